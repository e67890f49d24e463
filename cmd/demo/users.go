package main

import (
	"context"
	"crypto/subtle"
	"errors"
)

// demoUser is a user who can log in on the demo's login page.
type demoUser struct {
	// Username is what the user types; it is also the token subject.
	Username string
	// Name is the display name.
	Name string
	// LoopbackPassword is the well-known password used when the issuer is a loopback
	// URL (nobody else can reach the server); public issuers use random passwords from
	// the secrets file.
	LoopbackPassword string
}

// demoUsers are the demo's users.
var demoUsers = []demoUser{
	{Username: "alice", Name: "Alice Liddell", LoopbackPassword: "wonderland"},
	{Username: "bob", Name: "Bob the Builder", LoopbackPassword: "can-we-fix-it"},
}

// credential is a username and the password that logs it in.
type credential struct {
	Username, Name, Password string
}

// userDirectory checks the demo users' passwords.
type userDirectory struct {
	users []credential
}

// newUserDirectory returns the demo users with their loopback passwords, or with the
// passwords from s when the issuer is public.
func newUserDirectory(loopback bool, s *secrets) *userDirectory {
	d := &userDirectory{}
	for _, u := range demoUsers {
		pw := u.LoopbackPassword
		if !loopback {
			pw = s.Passwords[u.Username]
		}
		d.users = append(d.users, credential{Username: u.Username, Name: u.Name, Password: pw})
	}
	return d
}

var errBadCredentials = errors.New("wrong username or password")

// Authenticate returns the subject for a valid username and password. Every user's
// password is compared in constant time, so timing tells nothing about which users exist.
func (d *userDirectory) Authenticate(_ context.Context, username, password string) (string, error) {
	subject := ""
	for _, u := range d.users {
		nameOK := subtle.ConstantTimeCompare([]byte(username), []byte(u.Username))
		pwOK := subtle.ConstantTimeCompare([]byte(password), []byte(u.Password))
		if nameOK&pwOK == 1 {
			subject = u.Username
		}
	}
	if subject == "" {
		return "", errBadCredentials
	}
	return subject, nil
}

// displayName returns the display name of subject, or subject itself.
func (d *userDirectory) displayName(subject string) string {
	for _, u := range d.users {
		if u.Username == subject {
			return u.Name
		}
	}
	return subject
}

// known reports whether subject is a demo user.
func (d *userDirectory) known(subject string) bool {
	for _, u := range d.users {
		if u.Username == subject {
			return true
		}
	}
	return false
}
