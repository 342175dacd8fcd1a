package sasl

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"errors"
	"testing"

	scramclient "github.com/twmb/franz-go/pkg/sasl/scram"
)

func TestParseJAAS(t *testing.T) {
	j, err := ParseJAAS(` org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret"
		user_admin="admin-secret" user_alice="a \"b\" \\c";  `)
	if err != nil {
		t.Fatal(err)
	}
	users, err := PlainUsers(j)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users["admin"] != "admin-secret" || users["alice"] != `a "b" \c` {
		t.Fatalf("users %q", users)
	}
	for _, bad := range []string{"", "X required a=b", "X required a=b; Y required c=d;", "X maybe;", `X required a="b;`} {
		if _, err := ParseJAAS(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	j, _ = ParseJAAS("org.apache.kafka.common.security.scram.ScramLoginModule required;")
	if _, err := PlainUsers(j); err == nil {
		t.Error("SCRAM module accepted for PLAIN")
	}
}

func TestPlain(t *testing.T) {
	users := map[string]string{"alice": "secret"}
	for tok, ok := range map[string]bool{
		"\x00alice\x00secret":      true,
		"alice\x00alice\x00secret": true,
		"bob\x00alice\x00secret":   false,
		"\x00alice\x00wrong":       false,
		"\x00nobody\x00secret":     false,
		"\x00alice":                false,
		"\x00\x00secret":           false,
	} {
		m := NewPlain(users)
		_, done, err := m.Step([]byte(tok))
		if done != ok || (err == nil) != ok {
			t.Errorf("%q: done %v err %v", tok, done, err)
		}
		if ok && m.User() != "alice" {
			t.Errorf("user %q", m.User())
		}
	}
	m := NewPlain(users)
	_, _, err := m.Step([]byte("\x00alice\x00wrong"))
	var se *Error
	if !errors.As(err, &se) || se.Msg != InvalidCredentials {
		t.Fatalf("error %v", err)
	}
	// A failed attempt still tells who claimed to be whom, never the
	// password.
	if m.Claimed() != "alice" || m.User() != "" {
		t.Fatalf("claimed %q, user %q", m.Claimed(), m.User())
	}
}

// TestScramWithClient runs franz-go's SCRAM client against the server.
func TestScramWithClient(t *testing.T) {
	salt := []byte("0123456789abcdef")
	salted, err := pbkdf2.Key(sha512.New, "pencil", salt, 4096, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewCredential(ScramSHA512, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(u string) (Credential, bool) { return cred, u == "user,=x" }
	run := func(user, pass string) error {
		srv, _ := NewScram(ScramSHA512, lookup)
		sess, msg, err := scramclient.Auth{User: user, Pass: pass}.AsSha512Mechanism().Authenticate(context.Background(), "host")
		if err != nil {
			return err
		}
		for {
			resp, done, err := srv.Step(msg)
			if err != nil {
				return err
			}
			cdone, next, err := sess.Challenge(resp)
			if err != nil {
				return err
			}
			if done {
				if !cdone {
					t.Fatal("client not done when server is")
				}
				if srv.User() != user {
					t.Fatalf("user %q", srv.User())
				}
				return nil
			}
			msg = next
		}
	}
	if err := run("user,=x", "pencil"); err != nil {
		t.Fatal(err)
	}
	if err := run("user,=x", "pen"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := run("other", "pencil"); err == nil {
		t.Fatal("unknown user accepted")
	}
	srv, _ := NewScram(ScramSHA512, lookup)
	if _, _, err := srv.Step([]byte("n,,n=mallory,r=abc")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Step([]byte("c=biws,r=wrong,p=AAAA")); err == nil {
		t.Fatal("bad final message accepted")
	}
	if srv.Claimed() != "mallory" || srv.User() != "" {
		t.Fatalf("claimed %q, user %q", srv.Claimed(), srv.User())
	}
	if _, err := NewCredential(ScramSHA512, salt, salted[:10], 4096); err == nil {
		t.Fatal("short salted password accepted")
	}
}
