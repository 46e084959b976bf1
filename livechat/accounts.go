package livechat

import (
	"context"
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/bascule/bascule"
)

// Accounts manages operator accounts. They are configuration: like knowledge, only the main
// writes them (Writable), and the backup receives them through the feed.
type Accounts struct {
	Store bascule.Store
	// Writable returns nil when this server accepts configuration writes, and an error naming
	// the server that does otherwise (see kb.Service). Nil means writable.
	Writable func() error
}

// List returns every account, without secrets.
func (a *Accounts) List(ctx context.Context) ([]bascule.Account, error) {
	all, err := a.Store.Accounts(ctx)
	for i := range all {
		all[i] = all[i].Public()
	}
	return all, err
}

// Get returns an account without secrets.
func (a *Accounts) Get(ctx context.Context, login string) (*bascule.Account, error) {
	acc, err := a.Store.Account(ctx, login)
	if err != nil {
		return nil, err
	}
	p := acc.Public()
	return &p, nil
}

// Put creates or updates an account. A new account needs a password; an update without one
// keeps the password (and the operator's sessions). A new password is hashed, and makes a new
// session key: every session of the operator ends, on both servers.
func (a *Accounts) Put(ctx context.Context, acc *bascule.Account) error {
	if a.Writable != nil {
		if err := a.Writable(); err != nil {
			return err
		}
	}
	if acc.Role == "" {
		acc.Role = bascule.RoleOperator
	}
	if acc.Capacity == 0 {
		acc.Capacity = 3
	}
	slices.Sort(acc.Competencies)
	acc.Competencies = slices.Compact(acc.Competencies)
	old, err := a.Store.Account(ctx, acc.Login)
	switch {
	case errors.Is(err, bascule.ErrNotFound):
		old = nil
	case err != nil:
		return err
	}
	var errs []error
	if err := acc.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case acc.Password != "":
		if n := utf8.RuneCountInString(acc.Password); n < MinPasswordLen || len(acc.Password) > 256 {
			errs = append(errs, bascule.FieldErrorf("password", "must hold %d to 256 characters", MinPasswordLen))
		}
	case old == nil:
		errs = append(errs, bascule.FieldErrorf("password", "is required for a new account"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if acc.Password != "" {
		acc.PasswordHash, acc.SessionKey = HashPassword(acc.Password), NewSessionKey()
	} else {
		acc.PasswordHash, acc.SessionKey = old.PasswordHash, old.SessionKey
	}
	acc.Password = ""
	if err := a.Store.PutAccount(ctx, acc); err != nil {
		return err
	}
	*acc = acc.Public()
	return nil
}

// Delete removes an account; the operator's sessions end with it.
func (a *Accounts) Delete(ctx context.Context, login string) error {
	if a.Writable != nil {
		if err := a.Writable(); err != nil {
			return err
		}
	}
	return a.Store.DeleteAccount(ctx, login)
}
