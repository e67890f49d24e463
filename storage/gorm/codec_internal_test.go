package gormstore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

func codecRequest(sess fosite.Session) *fosite.Request {
	return &fosite.Request{
		ID:                "grant-1",
		RequestedAt:       time.Now().UTC().Truncate(time.Microsecond),
		Client:            &provider.Client{ID: "codec"},
		RequestedScope:    fosite.Arguments{"read", "offline_access"},
		GrantedScope:      fosite.Arguments{"read"},
		RequestedAudience: fosite.Arguments{"https://mcp.example/mcp"},
		GrantedAudience:   fosite.Arguments{"https://mcp.example/mcp"},
		Form: url.Values{"redirect_uri": {"http://127.0.0.1:5000/cb"}, "code_challenge_method": {"S256"},
			"multi": {"a", "", "c"}, "empty": {}},
		Session: sess,
	}
}

// The binary encoding keeps everything the JSON one kept: scopes, audiences, the form and
// the provider's session (subject, every expiry including a zero one, extra claims), also
// when read into another session type.
func TestCodec_RoundTrip(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Nanosecond)
	ps := &provider.Session{Subject: "alice", ExpiresAt: map[fosite.TokenType]time.Time{
		fosite.AccessToken: exp, fosite.RefreshToken: exp.Add(time.Hour), fosite.AuthorizeCode: {}},
		Extra: map[string]interface{}{"tenant": "t1", "n": 2.0}}
	req := codecRequest(ps)
	plain, err := encodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if plain[0] != codecV1 {
		t.Fatalf("first byte %#x; want the version byte", plain[0])
	}
	var got provider.Session
	d, err := decodeRequest(plain, &got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.requestedScope, []string(req.RequestedScope)) || !reflect.DeepEqual(d.grantedScope, []string(req.GrantedScope)) ||
		!reflect.DeepEqual(d.requestedAudience, []string(req.RequestedAudience)) || !reflect.DeepEqual(d.grantedAudience, []string(req.GrantedAudience)) {
		t.Errorf("lists: %+v", d)
	}
	wantForm := url.Values{"redirect_uri": {"http://127.0.0.1:5000/cb"}, "code_challenge_method": {"S256"}, "multi": {"a", "", "c"}, "empty": nil}
	if !reflect.DeepEqual(d.form, wantForm) {
		t.Errorf("form %v; want %v", d.form, wantForm)
	}
	if got.Subject != "alice" || !got.ExpiresAt[fosite.AccessToken].Equal(exp) || !got.ExpiresAt[fosite.RefreshToken].Equal(exp.Add(time.Hour)) ||
		!got.ExpiresAt[fosite.AuthorizeCode].IsZero() || got.Extra["tenant"] != "t1" || got.Extra["n"] != 2.0 {
		t.Errorf("session %+v", got)
	}

	// Read into another session type, the result is what the JSON encoding gave: the
	// provider session's JSON decoded into it.
	var other, want struct {
		Sub string                 `json:"sub"`
		Ext map[string]interface{} `json:"ext"`
		*fosite.DefaultSession
	}
	other.DefaultSession, want.DefaultSession = &fosite.DefaultSession{}, &fosite.DefaultSession{}
	if _, err := decodeRequest(plain, &other); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ps)
	_ = json.Unmarshal(raw, &want)
	if other.Sub != "alice" || other.Ext["tenant"] != "t1" || !reflect.DeepEqual(other, want) {
		t.Errorf("read into another session type: %+v; want %+v", other, want)
	}

	// Any other session type is kept as JSON inside the binary encoding.
	ds := &fosite.DefaultSession{Subject: "bob", Username: "bob@example.com"}
	plain, err = encodeRequest(codecRequest(ds))
	if err != nil {
		t.Fatal(err)
	}
	var back fosite.DefaultSession
	if _, err := decodeRequest(plain, &back); err != nil || back.Subject != "bob" || back.Username != "bob@example.com" {
		t.Errorf("DefaultSession round trip: %+v %v", back, err)
	}
	// No session at all.
	plain, err = encodeRequest(codecRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeRequest(plain, &provider.Session{}); err != nil {
		t.Errorf("without session: %v", err)
	}
}

// Rows written before the binary encoding hold JSON; they still decode, through the whole
// read path (decryption, request, session, client).
func TestCodec_JSONRowsWrittenBeforeStillDecode(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "legacy.db"), Options{
		EncryptionKeys: []Key{{ID: "k", Secret: make([]byte, 32)}},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &provider.Client{ID: "codec", Public: true}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sessJSON, _ := json.Marshal(&provider.Session{Subject: "alice", ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: exp}})
	legacy, _ := json.Marshal(sealedRequest{RequestedScope: []string{"read"}, GrantedScope: []string{"read"},
		GrantedAudience: []string{"https://mcp.example/mcp"}, Form: url.Values{"a": {"b"}}, Session: sessJSON})
	key := hashKey("legacy-sig")
	keyID, data, err := s.keys.seal(legacy, rowAD(tableAccess, key))
	if err != nil {
		t.Fatal(err)
	}
	row := &sessionRow{Signature: key, RequestID: "grant-legacy", ClientID: "codec", Subject: "alice",
		RequestedAt: dbTime(time.Now()), ExpiresAt: optTime(exp), Active: true, KeyID: keyID, Data: data}
	if err := s.insertSession(ctx, tableAccess, row, ""); err != nil {
		t.Fatal(err)
	}
	var sess provider.Session
	req, err := s.GetAccessTokenSession(ctx, "legacy-sig", &sess)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetID() != "grant-legacy" || req.GetClient().GetID() != "codec" || !reflect.DeepEqual([]string(req.GetGrantedScopes()), []string{"read"}) ||
		!reflect.DeepEqual([]string(req.GetGrantedAudience()), []string{"https://mcp.example/mcp"}) || req.GetRequestForm().Get("a") != "b" ||
		sess.Subject != "alice" || !sess.ExpiresAt[fosite.AccessToken].Equal(exp) {
		t.Fatalf("legacy row decoded as %+v, session %+v", req, sess)
	}
}

// Decoding into a session merges as JSON decoding did: fosite's token endpoint sets the new
// access token expiry on its session, then decodes the stored code session into it.
func TestCodec_DecodeMergesIntoSessionLikeJSON(t *testing.T) {
	stored := &provider.Session{ExpiresAt: map[fosite.TokenType]time.Time{fosite.AuthorizeCode: time.Unix(100, 0).UTC()},
		Extra: map[string]interface{}{"a": "stored"}}
	plain, err := encodeRequest(codecRequest(stored))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(200, 0).UTC()
	dst := &provider.Session{Subject: "kept", ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at},
		Extra: map[string]interface{}{"b": "kept"}}
	if _, err := decodeRequest(plain, dst); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(stored)
	want := &provider.Session{Subject: "kept", ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at},
		Extra: map[string]interface{}{"b": "kept"}}
	if err := json.Unmarshal(raw, want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("decoded %+v; JSON decoding gives %+v", dst, want)
	}
}

// Malformed plaintext (it passed authentication, so only a bug could produce it) is an
// error, never a panic or a huge allocation.
func FuzzDecodeRequest(f *testing.F) {
	good, _ := encodeRequest(codecRequest(&provider.Session{Subject: "s", ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: time.Now()}}))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{codecV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte(`{"rs":["a"]}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRequest(b, &provider.Session{})
	})
}

// Truncations of a valid encoding are refused.
func TestCodec_TruncatedIsAnError(t *testing.T) {
	good, err := encodeRequest(codecRequest(&provider.Session{Subject: "s"}))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n++ {
		if _, err := decodeRequest(good[:n], &provider.Session{}); err == nil {
			t.Fatalf("truncated to %d of %d bytes: decoded without error", n, len(good))
		}
	}
	if _, err := decodeRequest(append(good, 0), &provider.Session{}); err == nil {
		t.Fatal("trailing byte: decoded without error")
	}
}
