package gormstore

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// TestOpenSQLite_SavepointSubJournalsStayInMemory pins where SQLite keeps the original
// pages a group commit member's savepoint changes: in memory, not in a temporary file
// written with two system calls per page (SQLite's default past 64 KiB, which made more
// write calls per refresh under load than the log itself). The member here changes ~100
// pages that existed before its savepoint; SQLite names its temporary files etilqs_*.
func TestOpenSQLite_SavepointSubJournalsStayInMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the process's open files from /proc/self/fd")
	}
	s := openGroupStore(t)
	pad := strings.Repeat("p", 200)
	err := s.db.Transaction(func(tx *gorm.DB) error {
		for i := range 2000 {
			if err := tx.Exec(`INSERT INTO gc_parent (id) VALUES (?)`, fmt.Sprintf("%s-%05d", pad, i)).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var tempStore int
	var tempFiles []string
	err = s.db.Connection(func(conn *gorm.DB) error {
		if err := conn.Raw(`PRAGMA temp_store`).Scan(&tempStore).Error; err != nil {
			return err
		}
		for _, q := range []string{`BEGIN IMMEDIATE`, `SAVEPOINT member`, `UPDATE gc_parent SET id = id || 'x'`} {
			if err := conn.Exec(q).Error; err != nil {
				return err
			}
		}
		tempFiles = openTempFiles(t)
		return conn.Exec(`ROLLBACK`).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if tempStore != 2 {
		t.Errorf("writer's temp_store = %d, want 2 (MEMORY)", tempStore)
	}
	if len(tempFiles) > 0 {
		t.Errorf("a savepoint's sub-journal went to temporary files %v, want memory", tempFiles)
	}
}

// openTempFiles lists the SQLite temporary files this process has open.
func openTempFiles(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var temp []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, "etilqs_") {
			temp = append(temp, target)
		}
	}
	return temp
}
