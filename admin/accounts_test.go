package admin_test

import (
	"strings"
	"testing"

	"github.com/bascule/bascule"
)

func TestAccounts(t *testing.T) {
	e := newEnv(t, nil)
	created := e.call("POST", "accounts", `{"login":"ann","name":"Ann","competencies":["sales"],"capacity":2,"queueCapacity":3,"password":"a long password"}`, 201)
	if created["login"] != "ann" || created["passwordHash"] != nil || created["sessionKey"] != nil || created["password"] != nil {
		t.Fatalf("created: %v", created)
	}
	e.call("POST", "accounts", `{"login":"ann","name":"Ann","password":"a long password"}`, 409)
	bad := e.call("POST", "accounts", `{"login":"X","name":"","capacity":20,"password":"short"}`, 400)
	if f := bad["error"].(map[string]any)["field"]; f != "login" || len(bad["errors"].([]any)) != 4 {
		t.Fatalf("a bad account: %v", bad)
	}
	e.call("PUT", "accounts/ann", `{"name":"Ann B.","capacity":4}`, 200)
	got := e.call("GET", "accounts/ann", "", 200)
	if got["name"] != "Ann B." || got["capacity"] != 4.0 || got["passwordHash"] != nil {
		t.Fatalf("after update: %v", got)
	}
	stored, err := e.store.Account(t.Context(), "ann")
	if err != nil || stored.PasswordHash == "" || stored.SessionKey == "" {
		t.Fatalf("the stored account keeps its password: %+v %v", stored, err)
	}
	if list := e.call("GET", "accounts", "", 200); len(list["accounts"].([]any)) != 1 {
		t.Fatalf("list: %v", list)
	}
	e.call("PUT", "accounts/bob", `{"name":"Bob"}`, 404)
	e.call("DELETE", "accounts/ann", "", 204)
	e.call("DELETE", "accounts/ann", "", 404)
}

// TestAccountsOnTheBackup: accounts are configuration; the backup refuses to write them and
// names the main.
func TestAccountsOnTheBackup(t *testing.T) {
	e := newEnv(t, func() error {
		return bascule.Errorf(bascule.CodeReadOnly, "this server is the backup: edit knowledge and configuration on the main (https://app1.example.com:8443)")
	})
	out := e.call("POST", "accounts", `{"login":"ann","name":"Ann","password":"a long password"}`, 409)
	if e := out["error"].(map[string]any); e["code"] != "read_only" || !strings.Contains(e["message"].(string), "app1.example.com") {
		t.Fatalf("the backup's answer: %v", out)
	}
	e.call("GET", "accounts", "", 200)
}
