package mcp

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/go-jose/go-jose/v3"
)

// Issue 10 item 1: New never silently overwrites a provider setting the caller made. The
// test finds by reflection every provider.Config field New derives (a field whose value
// differs between cfg.Provider and the configuration New hands to provider.New), under
// compat.Default, compat.Strict and with every optional feature on; it then sets each such
// field to a caller value and requires New to keep it (equal; for lists, every caller
// element present; for hooks, the caller's function still runs) or to return an error
// naming it. A field New starts deriving later is covered without editing the test.
func TestNew_NeverOverwritesAProviderFieldItDerives(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	quiet := slog.New(slog.DiscardHandler)
	base := func() Config {
		return Config{
			Provider: provider.Config{Issuer: "http://127.0.0.1:1", Storage: store,
				GlobalSecret: []byte("config-test-global-secret-0123456789"),
				AutoApprove:  func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true }},
			Resources: []resourceserver.Resource{{URL: "http://127.0.0.1:1/mcp", Scopes: []string{"files:read"}}},
			Logger:    quiet,
		}
	}
	strict := compat.Strict()
	variants := map[string]func(*Config){
		"compat.Default": func(*Config) {},
		"compat.Strict":  func(c *Config) { c.Compat = &strict },
		"every feature on": func(c *Config) {
			c.JWTAccessTokens = &JWTAccessTokens{Enabled: true}
			c.ClientIDMetadataDocuments = &ClientIDMetadataDocuments{Enabled: true}
		},
	}
	seen := map[string]bool{}
	for name, variant := range variants {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			variant(&cfg)
			_, derived, err := prepare(t.Context(), cfg)
			if err != nil {
				t.Fatalf("prepare without caller settings: %v", err)
			}
			pt := reflect.TypeFor[provider.Config]()
			for i := range pt.NumField() {
				f := pt.Field(i)
				if sameValue(reflect.ValueOf(cfg.Provider).Field(i), reflect.ValueOf(derived).Field(i)) {
					continue
				}
				seen[f.Name] = true
				t.Run(f.Name, func(t *testing.T) {
					called := false
					caller := callerValue(t, f.Type, &called)
					cfg := base()
					variant(&cfg)
					reflect.ValueOf(&cfg.Provider).Elem().Field(i).Set(caller)
					_, got, err := prepare(t.Context(), cfg)
					if err != nil {
						if !strings.Contains(err.Error(), "Provider."+f.Name) {
							t.Fatalf("New refused Provider.%s with an error that does not name it: %v", f.Name, err)
						}
						return
					}
					if !kept(caller, reflect.ValueOf(got).Field(i), &called) {
						t.Errorf("New overwrote the caller's Provider.%s (%v) with %v", f.Name, caller, reflect.ValueOf(got).Field(i))
					}
				})
			}
		})
	}
	// The test must see what New is known to derive, or it tests nothing.
	for _, f := range []string{"Resources", "DefaultResource", "Scopes", "AuthorizeHook", "EditMetadata", "RequireResource",
		"ScopesForAudience", "MinStateLength", "ClientResolver", "AccessTokenStrategy", "AccessTokenLifespan", "Logger"} {
		if !seen[f] {
			t.Errorf("Provider.%s was not found derived by New in any variant", f)
		}
	}
}

// sameValue reports whether New left a field as the caller had it: functions by identity
// (nil or the same function), everything else by deep equality.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Func {
		return a.IsNil() == b.IsNil() && (a.IsNil() || a.Pointer() == b.Pointer())
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// testKeySource is a caller's provider.ClientKeySource; it knows no keys.
type testKeySource struct{}

func (testKeySource) ClientKey(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no keys")
}

// testResolver is a caller's provider.ClientResolver (never called: New refuses it or
// keeps it).
type testResolver struct{ provider.ClientResolver }

// callerValue returns a non-zero value of type t as a caller would set it; functions set
// *called when they run.
func callerValue(t *testing.T, typ reflect.Type, called *bool) reflect.Value {
	t.Helper()
	switch typ {
	case reflect.TypeFor[*slog.Logger]():
		return reflect.ValueOf(slog.New(slog.DiscardHandler))
	case reflect.TypeFor[provider.ClientResolver]():
		return reflect.ValueOf(provider.ClientResolver(testResolver{}))
	case reflect.TypeFor[provider.ClientKeySource]():
		return reflect.ValueOf(provider.ClientKeySource(testKeySource{}))
	case reflect.TypeFor[time.Duration]():
		return reflect.ValueOf(7 * time.Minute)
	}
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.String:
		v.SetString("https://caller.example/set")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Slice:
		if typ.Elem().Kind() != reflect.String {
			t.Fatalf("no caller value for %s: add one", typ)
		}
		v = reflect.Append(v, reflect.ValueOf("callerset").Convert(typ.Elem()))
	case reflect.Struct:
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(callerValue(t, typ.Field(i).Type, called))
			}
		}
	case reflect.Func:
		v = reflect.MakeFunc(typ, func([]reflect.Value) []reflect.Value {
			*called = true
			out := make([]reflect.Value, typ.NumOut())
			for i := range out {
				out[i] = reflect.Zero(typ.Out(i))
			}
			return out
		})
	default:
		t.Fatalf("no caller value for %s: add one", typ)
	}
	return v
}

// kept reports whether got keeps the caller's value: equal; for a list, every caller
// element present (New merges lists); for a struct, every field kept; for a function,
// the same function or one that calls it.
func kept(caller, got reflect.Value, called *bool) bool {
	switch caller.Kind() {
	case reflect.Func:
		if got.IsNil() {
			return false
		}
		if got.Pointer() == caller.Pointer() {
			return true
		}
		*called = false
		args := make([]reflect.Value, got.Type().NumIn())
		for i := range args {
			in := got.Type().In(i)
			switch {
			case in == reflect.TypeFor[context.Context]():
				args[i] = reflect.ValueOf(context.Background())
			case in.Kind() == reflect.Pointer:
				args[i] = reflect.New(in.Elem())
			default:
				args[i] = reflect.Zero(in)
			}
		}
		got.Call(args)
		return *called
	case reflect.Slice:
		for i := range caller.Len() {
			if !slices.ContainsFunc(sliceOf(got), func(v reflect.Value) bool { return reflect.DeepEqual(v.Interface(), caller.Index(i).Interface()) }) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range caller.NumField() {
			if caller.Type().Field(i).IsExported() && !kept(caller.Field(i), got.Field(i), called) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(caller.Interface(), got.Interface())
}

func sliceOf(v reflect.Value) []reflect.Value {
	out := make([]reflect.Value, v.Len())
	for i := range out {
		out[i] = v.Index(i)
	}
	return out
}
