package gormstore

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clientColumns and selectClient's scan list are written by hand for the hot path; a
// column added to clientRow but not to them would come back empty without an error.
// These tests fail instead.
func TestClientColumns_MatchClientRowFieldsInOrder(t *testing.T) {
	var want []string
	rt := reflect.TypeOf(clientRow{})
	for i := 0; i < rt.NumField(); i++ {
		tag := rt.Field(i).Tag.Get("gorm")
		col, _, _ := strings.Cut(strings.TrimPrefix(tag, "column:"), ";")
		want = append(want, col)
	}
	got := strings.Split(clientColumns, ", ")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("clientColumns = %q\nclientRow columns = %q", got, want)
	}
}

func TestSelectClient_ReadsEveryColumn(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "c.db"),
		Options{EncryptionKeys: []Key{{ID: "k", Secret: make([]byte, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	// A row with every field set to a distinct non-zero value.
	now := time.Now().UTC().Truncate(time.Second)
	var row clientRow
	rv := reflect.ValueOf(&row).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		name := rv.Type().Field(i).Name
		switch f.Interface().(type) {
		case string:
			f.SetString("v-" + name)
		case []byte:
			f.SetBytes([]byte("b-" + name))
		case bool:
			f.SetBool(true)
		case time.Time:
			f.Set(reflect.ValueOf(now))
		case *time.Time:
			tm := now.Add(time.Hour)
			f.Set(reflect.ValueOf(&tm))
		default:
			t.Fatalf("clientRow.%s has a type this test does not fill: %s", name, f.Type())
		}
	}
	if err := s.DB().Table(tableClients).Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	got, err := s.selectClient(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	gv := reflect.ValueOf(got).Elem()
	for i := 0; i < gv.NumField(); i++ {
		if gv.Field(i).IsZero() {
			t.Errorf("selectClient left clientRow.%s empty: the column is missing from clientColumns or the scan list",
				gv.Type().Field(i).Name)
		}
	}
}
