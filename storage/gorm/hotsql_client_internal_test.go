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

// openClientTestStore opens a migrated SQLite store in a temporary directory.
func openClientTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "c.db"),
		Options{EncryptionKeys: []Key{{ID: "k", Secret: make([]byte, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// distinctClientRow returns a row with every field set to a distinct non-zero value.
func distinctClientRow(t *testing.T) clientRow {
	t.Helper()
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
			f.Set(reflect.ValueOf(now.Add(time.Duration(i) * time.Minute)))
		case *time.Time:
			tm := now.Add(time.Duration(i) * time.Hour)
			f.Set(reflect.ValueOf(&tm))
		default:
			t.Fatalf("clientRow.%s has a type this test does not fill: %s", name, f.Type())
		}
	}
	return row
}

func TestSelectClient_ReadsEveryColumn(t *testing.T) {
	ctx := context.Background()
	s := openClientTestStore(t)
	row := distinctClientRow(t)
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

// The hot-path insert (CreateClient) writes clientRow.values in clientColumns order: every
// field must land in its own column, read back through GORM's mapping of the struct tags.
func TestInsertClient_WritesEveryColumnInItsPlace(t *testing.T) {
	ctx := context.Background()
	s := openClientTestStore(t)
	row := distinctClientRow(t)
	if n, err := s.exec(ctx, s.pool(ctx), s.hot.insertClient, row.values()...); err != nil || n != 1 {
		t.Fatalf("insert: %d rows, %v", n, err)
	}
	var got clientRow
	if err := s.DB().Table(tableClients).Where("id = ?", row.ID).Take(&got).Error; err != nil {
		t.Fatal(err)
	}
	wv, gv := reflect.ValueOf(row), reflect.ValueOf(got)
	for i := 0; i < wv.NumField(); i++ {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		switch w := w.(type) {
		case time.Time:
			if !w.Equal(g.(time.Time)) {
				t.Errorf("clientRow.%s = %v; want %v", wv.Type().Field(i).Name, g, w)
			}
		case *time.Time:
			if g := g.(*time.Time); g == nil || !w.Equal(*g) {
				t.Errorf("clientRow.%s = %v; want %v", wv.Type().Field(i).Name, g, *w)
			}
		default:
			if !reflect.DeepEqual(w, g) {
				t.Errorf("clientRow.%s = %v; want %v", wv.Type().Field(i).Name, g, w)
			}
		}
	}
	if n, err := s.exec(ctx, s.pool(ctx), s.hot.insertClient, row.values()...); err != nil || n != 0 {
		t.Errorf("second insert of the same ID: %d rows, %v; want 0 rows (ON CONFLICT DO NOTHING)", n, err)
	}
}
