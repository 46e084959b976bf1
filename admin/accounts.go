package admin

import (
	"net/http"

	"github.com/bascule/bascule"
)

// Operator accounts of the livechat desk. Like knowledge, they are written on the main only:
// the backup answers 409 with an error naming the main. Passwords are written, never read.

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) error {
	list, err := a.opt.Accounts.List(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"accounts": nonNil(list)})
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) error {
	var acc bascule.Account
	if err := decode(w, r, &acc); err != nil {
		return err
	}
	if _, err := a.opt.Accounts.Get(r.Context(), acc.Login); err == nil {
		return bascule.Errorf(bascule.CodeConflict, "account %s exists; use PUT to change it", acc.Login)
	}
	if err := a.opt.Accounts.Put(r.Context(), &acc); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, acc)
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) error {
	acc, err := a.opt.Accounts.Get(r.Context(), r.PathValue("login"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, acc)
}

// updateAccount replaces an account; without a password, the password (and the operator's
// sessions) are kept.
func (a *API) updateAccount(w http.ResponseWriter, r *http.Request) error {
	var acc bascule.Account
	if err := decode(w, r, &acc); err != nil {
		return err
	}
	if acc.Login == "" {
		acc.Login = r.PathValue("login")
	}
	if acc.Login != r.PathValue("login") {
		return bascule.FieldErrorf("login", "does not match the account of the URL")
	}
	if _, err := a.opt.Accounts.Get(r.Context(), acc.Login); err != nil {
		return err
	}
	if err := a.opt.Accounts.Put(r.Context(), &acc); err != nil {
		return err
	}
	return reply(w, http.StatusOK, acc)
}

func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := a.opt.Accounts.Delete(r.Context(), r.PathValue("login")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
