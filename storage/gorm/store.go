// Package gormstore implements provider.Storage on GORM, for SQLite (github.com/mattn/go-sqlite3)
// and PostgreSQL (github.com/jackc/pgx), with one schema.
//
// What reaches the database is not usable by someone who reads it:
//   - codes and tokens are stored under the SHA-256 of their storage signature (fosite's HMAC of
//     the token, after its issue time for the provider's own, so neither the token nor the
//     signature is stored), after the signature's issue time in clear when it has one
//     (provider.SignatureIssueOrder);
//   - the serialized request (scopes, audiences, form and session) is encrypted with AES-256-GCM,
//     bound to its table and row key, with the key ID stored per row so that keys can rotate;
//   - client secrets are stored as the hash the provider gives;
//   - pending authorizations are stored under the SHA-256 of their opaque ID, their form encrypted.
//
// Single use holds under real concurrency: code invalidation, refresh token rotation and pending
// authorization consumption are conditional writes (… WHERE … AND active) whose affected-row count
// decides the winner. PostgreSQL transactions run at REPEATABLE READ; SQLite transactions take the
// write lock at BEGIN (_txlock=immediate), with a busy timeout, WAL and foreign keys. Revoking a
// grant also covers the tokens a rotation of the grant running at the same moment mints (see
// RevokeRefreshToken).
//
// The schema is created and upgraded by [Store.Migrate], which applies versioned migrations and
// records them in the oauth_schema_migrations table. Call it explicitly at start-up.
package gormstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

var _ provider.Storage = (*Store)(nil)

// Key is an encryption key for session data at rest.
type Key struct {
	// ID names the key. It is stored next to every row the key encrypted, so it must be
	// stable and unique among the configured keys (1–64 printable ASCII characters; it is not secret).
	ID string
	// Secret is the AES-256-GCM key: exactly 32 random bytes.
	Secret []byte
}

// Options configure a Store.
type Options struct {
	// EncryptionKeys encrypt session data and pending authorizations at rest. Required.
	// The first key encrypts new rows; every key decrypts. To rotate, put the new key first
	// and keep the old ones until every row they encrypted has expired (see Purge).
	EncryptionKeys []Key
	// Logger receives the store's own log lines (migrations, purges, rollback failures);
	// it never sees a token, code, signature or secret. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used for expiry decisions the store makes itself (pending
	// authorizations, JTIs, timestamps of clients). Nil means time.Now. Tests set it.
	Now func() time.Time
	// ClientCacheTTL is how long a client read from the database is served from memory
	// (token requests read their client several times). This Store's own client writes
	// (UpdateClient, DeleteClient, their RFC 7592 compare-and-swap forms) take effect at
	// once; a write by another Store on the same database (another replica) is seen after
	// at most ClientCacheTTL. Zero means DefaultClientCacheTTL (2 s); negative turns the
	// cache off (every read goes to the database).
	ClientCacheTTL time.Duration
	// ClientCacheSize bounds the number of cached clients. Zero means DefaultClientCacheSize.
	ClientCacheSize int
	// PostgresMaxOpenConns limits the connections OpenPostgres's pool opens, busy and idle
	// together; a request beyond the limit waits for a connection until its context ends.
	// Zero means DefaultPostgresMaxOpenConns() (4 per CPU); negative means no limit.
	// OpenSQLite and New ignore it.
	PostgresMaxOpenConns int
}

// Store implements provider.Storage on a *gorm.DB. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB // every write and transaction; for SQLite files (OpenSQLite) one connection
	read    *gorm.DB // reads outside transactions: db, or OpenSQLite's query-only readers
	dialect dialect
	keys    *keyring
	log     *slog.Logger
	now     func() time.Time
	closeDB bool
	clients *clientCache // nil when Options.ClientCacheTTL < 0
	hot     *hotStatements
	// prepared and preparedRead hold the hot statements prepared on db's and read's
	// *sql.DB (empty when the handle has none, e.g. with GORM's PrepareStmt mode).
	prepared, preparedRead *preparedStatements
	// group runs the write transactions of OpenSQLite's stores as members of shared SQLite
	// transactions (groupCommitter); nil: each transaction is its own (New, PostgreSQL).
	group *groupCommitter
	// checkpoints checkpoints the WAL of OpenSQLite's file stores off the writer's turn;
	// nil elsewhere.
	checkpoints *checkpointer

	// revocations counts the writes that can invalidate a verified access token
	// (RevocationCount).
	revocations atomic.Uint64
}

type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

// New returns a Store on db, which must use the sqlite (gorm.io/driver/sqlite) or postgres
// (gorm.io/driver/postgres) dialector. The caller keeps ownership of db: Close does not close it.
// For SQLite, db must have been opened with the DSN parameters OpenSQLite uses (or equivalent):
// immediate transactions, a busy timeout, WAL and foreign keys. New does not touch the schema:
// call Migrate. A Store from New runs each write transaction on its own and leaves WAL
// checkpoints to SQLite: OpenSQLite's group commit and checkpointer, which need the writer
// connection to themselves, are not there (under concurrent token requests OpenSQLite's
// store is the faster one; test/load/README.md).
func New(db *gorm.DB, opts Options) (*Store, error) {
	return newStore(db, nil, opts)
}

// newStore is New with a separate handle for reads outside transactions (nil: db).
func newStore(db, read *gorm.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("gormstore: nil *gorm.DB")
	}
	var d dialect
	switch db.Dialector.Name() {
	case "sqlite":
		d = dialectSQLite
	case "postgres":
		d = dialectPostgres
	default:
		return nil, fmt.Errorf("gormstore: unsupported dialect %q (want sqlite or postgres)", db.Dialector.Name())
	}
	kr, err := newKeyring(opts.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{
		db:      db.Session(&gorm.Session{SkipDefaultTransaction: true, NewDB: true}),
		dialect: d,
		keys:    kr,
		log:     log.With("component", "gormstore"),
		now:     now,
		clients: newClientCache(opts.ClientCacheTTL, opts.ClientCacheSize),
		hot:     newHotStatements(d),
	}
	// Not with GORM's PrepareStmt mode (its ConnPool is no *sql.DB): it prepares itself.
	sqlDB, _ := db.ConnPool.(*sql.DB)
	s.prepared = newPreparedStatements(sqlDB, s.hot.all())
	s.read, s.preparedRead = s.db, s.prepared
	if read != nil {
		s.read = read.Session(&gorm.Session{SkipDefaultTransaction: true, NewDB: true})
		readSQL, _ := read.ConnPool.(*sql.DB)
		s.preparedRead = newPreparedStatements(readSQL, s.hot.reads())
	}
	return s, nil
}

// SQLiteDSN returns the mattn/go-sqlite3 DSN OpenSQLite uses for the database file at path:
// WAL journal, foreign keys on, a 10 s busy timeout (a writer waits up to 10 s for the write lock
// before failing with provider.ErrStorageUnavailable), BEGIN IMMEDIATE transactions, UTC times,
// and synchronous=NORMAL (the usual WAL setting: never corrupts; an OS crash or power loss may
// lose the last commits, which costs users a new login, never a reused token). Use it with New
// to open the database yourself, e.g. with other pool settings.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	q.Set("_loc", "UTC")
	// The DSN is an SQLite URI: escape '%', '?', '#' and the like in the path (SQLite decodes them).
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// OpenSQLite opens (creating if needed) the SQLite database file at path with WAL, foreign keys,
// a busy timeout and immediate transactions, and returns a Store that owns it (Close closes it).
// Writes and transactions go through one connection (SQLite runs one writer at a time:
// writers then queue in the connection pool, in order, instead of sleeping and retrying in
// SQLite's busy handler, which made the latency tail under concurrent writes); reads outside
// transactions go through a pool of SQLiteReaders query-only connections beside it, which
// WAL lets run while the writer writes. Concurrent write transactions share commits: each
// runs alone on the writer inside a savepoint of a shared SQLite transaction, and its
// Commit returns once that transaction's COMMIT has succeeded (group commit,
// docs/design-group-commit.md). Statements run on the calling goroutine: a context's end
// stops the wait for the writer or a connection, but does not interrupt a statement already
// running (sqliteConnector). The path ":memory:" (or "") gives a private in-memory database
// on a single connection. Call Migrate before use.
func OpenSQLite(path string, opts Options) (*Store, error) {
	memory := path == "" || path == ":memory:"
	dsn := SQLiteDSN(path)
	if memory {
		dsn = strings.Replace(SQLiteDSN(":memory:"), "_journal_mode=WAL", "_journal_mode=MEMORY", 1)
	}
	// Group commit runs each transaction in a savepoint, and SQLite keeps the original of
	// every page a savepoint changes in a sub-journal, a temporary file once it passes
	// 64 KiB: two more write system calls per page, more than the log's own (a refresh
	// under load made ~59 write calls, 32 of them the sub-journal's). In memory it costs
	// at most a copy of the pages one transaction changes, and it never needs to survive
	// a crash (the log is what recovery reads).
	setup := []string{"PRAGMA temp_store = MEMORY"}
	if !memory { // the checkpointer below checkpoints; the writer's own is a safety valve
		setup = append(setup, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", sqliteWriterAutoCheckpoint))
	}
	db, err := openSQLite(dsn, 1, setup...)
	if err != nil {
		return nil, err
	}
	var read *gorm.DB
	if !memory { // every connection to ":memory:" is a separate database: one, for everything
		if read, err = openSQLite(dsn+"&_query_only=true", SQLiteReaders); err != nil {
			closeGorm(db)
			return nil, err
		}
	}
	s, err := newStore(db, read, opts)
	if err != nil {
		closeGorm(db)
		closeGorm(read)
		return nil, err
	}
	s.closeDB = true
	if sqlDB, ok := db.ConnPool.(*sql.DB); ok {
		s.group = newGroupCommitter(sqlDB)
		if !memory {
			if s.checkpoints, err = startCheckpointer(s.group, dsn, s.log, checkpointInterval, checkpointCommits, checkpointRestartFrames); err != nil {
				_ = s.Close()
				return nil, err
			}
		}
	}
	return s, nil
}

// SQLiteReaders is how many query-only connections OpenSQLite keeps for reads beside its
// one writer connection.
const SQLiteReaders = 8

// openSQLite opens GORM on a pool of at most conns connections to dsn (openSQLitePool).
func openSQLite(dsn string, conns int, setup ...string) (*gorm.DB, error) {
	sqlDB, err := openSQLitePool(dsn, conns, setup...)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), gormConfig())
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("gormstore: open sqlite: %w", err)
	}
	return db, nil
}

// openSQLitePool opens a pool of at most conns connections to dsn, kept open, and pings
// it; setup runs on each new connection. Its connections run statements without
// goroutines of their own (sqliteConnector).
func openSQLitePool(dsn string, conns int, setup ...string) (*sql.DB, error) {
	sqlDB := sql.OpenDB(newSQLiteConnector(dsn, setup...))
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	if err := sqlDB.Ping(); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("gormstore: open sqlite: %w", err)
	}
	return sqlDB, nil
}

// closeGorm closes db's pool; nil does nothing.
func closeGorm(db *gorm.DB) {
	if db == nil {
		return
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// PostgresMaxIdleConns is how many idle connections OpenPostgres keeps in its pool, at
// most: never more than its limit on open connections (Options.PostgresMaxOpenConns).
const PostgresMaxIdleConns = 32

// PostgresConnsPerCPU is OpenPostgres's default limit on open connections per CPU the Go
// runtime uses (GOMAXPROCS): see DefaultPostgresMaxOpenConns.
const PostgresConnsPerCPU = 4

// DefaultPostgresMaxOpenConns is OpenPostgres's limit on open connections when
// Options.PostgresMaxOpenConns is zero: PostgresConnsPerCPU × GOMAXPROCS (8 on 2 cores).
// Without a limit every concurrent request holds a backend of its own, and at 32 concurrent
// requests on 2 cores 32 backends and the Go server fight for the CPU: measured with
// test/load on PostgreSQL (2 cores, c = 8 and 32), a limit of 8 used 10–30 % less CPU per
// refresh and per bearer check than none (4 too, with more scatter), and cut the login p99
// at c = 32 from 0.9–1.9 s to 0.16–0.28 s. A request beyond the limit waits in Go for a
// connection, as long as its context allows.
func DefaultPostgresMaxOpenConns() int {
	return PostgresConnsPerCPU * runtime.GOMAXPROCS(0)
}

// OpenPostgres connects to PostgreSQL with dsn (key=value or URL form, as pgx accepts) and returns
// a Store that owns the connection pool (Close closes it). The pool opens at most
// Options.PostgresMaxOpenConns connections (DefaultPostgresMaxOpenConns by default; a request
// beyond waits for one, until its context ends) and keeps up to PostgresMaxIdleConns of them idle
// (idle ones close after 5 minutes); tune it further through s.DB().DB(). Tables go into the
// DSN's search_path (normally "public"). It pings the database once under ctx, so a deadline or
// cancellation bounds the start (pgx waits without limit for a server that accepts the connection
// but never answers, unless the DSN sets connect_timeout). Call Migrate before use.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg := gormConfig()
	cfg.DisableAutomaticPing = true // GORM's ping takes no context: ours below does
	db, err := gorm.Open(postgres.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("gormstore: open postgres: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("gormstore: open postgres: %w", err)
	}
	// database/sql keeps 2 idle connections by default: under concurrent requests the
	// pool then opens and closes a PostgreSQL connection per query (measured with
	// test/load: bearer checks at concurrency 8 went from 1216/s to 3173/s and p99 from
	// 70 ms to 6.7 ms with this setting). Tune further through DB().DB().
	maxOpen := postgresMaxOpenConns(opts.PostgresMaxOpenConns)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(PostgresMaxIdleConns)
	if maxOpen > 0 && maxOpen < PostgresMaxIdleConns {
		sqlDB.SetMaxIdleConns(maxOpen)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("gormstore: open postgres: %w", err)
	}
	s, err := New(db, opts)
	if err != nil {
		closeGorm(db)
		return nil, err
	}
	s.closeDB = true
	return s, nil
}

// postgresMaxOpenConns is the pool limit Options.PostgresMaxOpenConns n asks for, in
// database/sql's terms (0: no limit).
func postgresMaxOpenConns(n int) int {
	switch {
	case n == 0:
		return DefaultPostgresMaxOpenConns()
	case n < 0:
		return 0
	default:
		return n
	}
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}

// DB returns the underlying *gorm.DB (without any transaction). For tests and operational tooling.
func (s *Store) DB() *gorm.DB { return s.db }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string {
	if s.dialect == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// Close closes the database when the Store opened it (OpenSQLite, OpenPostgres); for a Store
// made with New it does nothing.
func (s *Store) Close() error {
	var errs []error
	if s.checkpoints != nil {
		errs = append(errs, s.checkpoints.Close())
	}
	s.prepared.close()
	s.preparedRead.close()
	if !s.closeDB {
		return errors.Join(errs...)
	}
	if s.read != s.db {
		if sqlDB, err := s.read.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return errors.Join(append(errs, sqlDB.Close())...)
}

// signatureKey is the stored form of a code's or token's signature: its hex SHA-256,
// after the signature's issue time in clear when it has one (provider.SignatureIssueOrder),
// so that the rows of tokens issued together are neighbours in the tables' key indexes.
func signatureKey(signature string) string {
	return provider.SignatureIssueOrder(signature) + hashKey(signature)
}

// hashKey is the stored form of an opaque ID or of a signature without an issue time: hex
// SHA-256.
func hashKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// ---- transactions (storage.Transactional) ----

type txKey struct{}

// txState is one database transaction shared by its owner and nested BeginTX calls.
type txState struct {
	mu sync.Mutex
	// conn is what the transaction's statements run on: the *sql.Tx, or GORM's ConnPool
	// for it when the Store's handle is not a plain *sql.DB (GORM's PrepareStmt mode).
	conn gorm.ConnPool
	// tx is GORM's handle on the transaction, built on first use (gormTx): the hot paths
	// run their statements on conn and never need it.
	tx *gorm.DB
	// ctx is the context the transaction began with (tx's).
	ctx          context.Context
	done         bool
	rollbackOnly bool
	// afterCommit runs, in order, once the transaction has committed (see revokeInTx).
	afterCommit []func(context.Context) error
	// clientsWritten are the clients this transaction wrote: it reads them from the
	// database, never from the client cache, and does not cache what it reads.
	clientsWritten map[string]bool
}

// txRef is what a context carries: the transaction, and whether this context began it.
type txRef struct {
	st    *txState
	owner bool
}

func txFrom(ctx context.Context) *txRef {
	ref, _ := ctx.Value(txKey{}).(*txRef)
	return ref
}

func (s *Store) txOptions() *sql.TxOptions {
	if s.dialect == dialectPostgres {
		return &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
	}
	// mattn/go-sqlite3 ignores the isolation level; the DSN's _txlock=immediate takes the
	// write lock at BEGIN, which serializes writers.
	return nil
}

// writeTxOptions are the options of a transaction that reads only rows it locks: READ
// COMMITTED on PostgreSQL (a row lock waits for a concurrent writer and then sees its
// commit), BEGIN IMMEDIATE on SQLite.
func (s *Store) writeTxOptions() *sql.TxOptions {
	if s.dialect == dialectPostgres {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return s.txOptions()
}

// BeginTX implements storage.Transactional. It begins a transaction (REPEATABLE READ on
// PostgreSQL, BEGIN IMMEDIATE on SQLite; with OpenSQLite a member of a shared transaction,
// see docs/design-group-commit.md) and returns a context carrying it; every Store method
// called with that context runs inside it. When ctx already carries an open transaction, BeginTX
// joins it: the returned context's Commit does nothing and its Rollback marks the transaction
// rollback-only, so that only the outermost owner commits or rolls back. Once the transaction
// has finished, methods called with its context run outside any transaction again.
//
// On PostgreSQL a failed statement aborts the whole transaction: after an error from a method
// called inside it, Rollback.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	return s.beginTX(ctx, s.txOptions())
}

// BeginWriteTX is BeginTX for a group of writes that reads only rows it locks, such as an
// authorization's code, PKCE request and grant (IssueCode writes them in one such
// transaction where they are not one statement): READ COMMITTED on PostgreSQL, where a locked
// row waits for a concurrent writer and then sees its commit instead of failing with a
// serialization error as under REPEATABLE READ; BEGIN IMMEDIATE on SQLite, like BeginTX.
// Commit and Rollback end it; a context that already carries a transaction joins it.
func (s *Store) BeginWriteTX(ctx context.Context) (context.Context, error) {
	return s.beginTX(ctx, s.writeTxOptions())
}

// beginTX is BeginTX with opts for a new transaction.
func (s *Store) beginTX(ctx context.Context, opts *sql.TxOptions) (context.Context, error) {
	if ref := txFrom(ctx); ref != nil {
		ref.st.mu.Lock()
		open := !ref.st.done
		ref.st.mu.Unlock()
		if open {
			return context.WithValue(ctx, txKey{}, &txRef{st: ref.st, owner: false}), nil
		}
	}
	st, err := s.startTx(ctx, opts)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, txKey{}, &txRef{st: st, owner: true}), nil
}

// startTx begins a transaction with opts. On a plain *sql.DB it begins it there directly
// and leaves GORM's handle for later (gormTx): GORM's Begin clones its statement twice,
// which cost about a tenth of a refresh token rotation's allocations. Errors are mapped.
func (s *Store) startTx(ctx context.Context, opts *sql.TxOptions) (*txState, error) {
	if s.group != nil {
		m, err := s.group.begin(ctx)
		if err != nil {
			return nil, s.mapErr(err)
		}
		return &txState{conn: m, ctx: ctx}, nil
	}
	if sqlDB, ok := s.db.Statement.ConnPool.(*sql.DB); ok {
		tx, err := sqlDB.BeginTx(ctx, opts)
		if err != nil {
			return nil, s.mapErr(err)
		}
		return &txState{conn: tx, ctx: ctx}, nil
	}
	tx := s.db.WithContext(ctx).Begin(opts)
	if tx.Error != nil {
		return nil, s.mapErr(tx.Error)
	}
	return &txState{conn: tx.Statement.ConnPool, tx: tx, ctx: ctx}, nil
}

// gormTx returns GORM's handle on st's transaction, building it on first use. The caller
// holds st.mu.
func (s *Store) gormTx(st *txState) *gorm.DB {
	if st.tx == nil {
		tx := s.db.Session(&gorm.Session{Context: st.ctx, NewDB: true})
		tx.Statement.ConnPool = st.conn
		st.tx = tx
	}
	return st.tx
}

// txDB returns GORM's handle on st's transaction with ctx, for the rare branches of the
// hot paths (inConnTx).
func (s *Store) txDB(ctx context.Context, st *txState) *gorm.DB {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.gormTx(st).WithContext(ctx)
}

// commit commits st's transaction (st.mu held or st not shared).
func (st *txState) commit() error {
	if c, ok := st.conn.(gorm.TxCommitter); ok {
		return c.Commit()
	}
	return gorm.ErrInvalidTransaction
}

// rollback rolls back st's transaction (st.mu held or st not shared).
func (st *txState) rollback() error {
	if c, ok := st.conn.(gorm.TxCommitter); ok {
		return c.Rollback()
	}
	return gorm.ErrInvalidTransaction
}

// Commit implements storage.Transactional. It commits the transaction ctx's BeginTX began; for a
// context that joined an outer transaction it does nothing. A transaction marked rollback-only by
// a nested Rollback is rolled back and Commit reports an error. Work a method deferred until
// the transaction has committed (a revocation that raced a refresh token rotation on
// PostgreSQL, see RevokeRefreshToken) runs after the commit; its error is Commit's.
func (s *Store) Commit(ctx context.Context) error {
	ref := txFrom(ctx)
	if ref == nil {
		return errors.New("gormstore: commit: no transaction in context")
	}
	if !ref.owner {
		return nil
	}
	st := ref.st
	st.mu.Lock()
	if st.done {
		st.mu.Unlock()
		return errors.New("gormstore: commit: transaction already finished")
	}
	st.done = true
	if st.rollbackOnly {
		if err := st.rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			s.log.WarnContext(ctx, "rollback of rollback-only transaction failed", "error", err)
		}
		st.mu.Unlock()
		return errors.New("gormstore: commit: transaction was marked rollback-only by a nested Rollback")
	}
	err := s.mapErr(st.commit())
	after := st.afterCommit
	st.afterCommit = nil
	st.mu.Unlock()
	if err != nil {
		return err
	}
	for _, fn := range after {
		if err := fn(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Rollback implements storage.Transactional. It rolls back the transaction ctx's BeginTX began
// (a no-op when it has already finished, e.g. after a failed Commit); for a context that joined
// an outer transaction it marks that transaction rollback-only.
func (s *Store) Rollback(ctx context.Context) error {
	ref := txFrom(ctx)
	if ref == nil {
		return errors.New("gormstore: rollback: no transaction in context")
	}
	st := ref.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if !ref.owner {
		st.rollbackOnly = true
		return nil
	}
	if st.done {
		return nil
	}
	st.done = true
	if err := st.rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return s.mapErr(err)
	}
	return nil
}

// openGormTx returns GORM's handle on ctx's open transaction (openTx), or nil.
func (s *Store) openGormTx(ctx context.Context) *gorm.DB {
	st := openTx(ctx)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.gormTx(st)
}

// openConn returns what ctx's open transaction (openTx) runs statements on, or nil: for
// the hot paths, which need no GORM handle.
func openConn(ctx context.Context) gorm.ConnPool {
	if st := openTx(ctx); st != nil {
		return st.conn
	}
	return nil
}

// conn returns the handle a method that writes uses: the open transaction in ctx, or the
// pool (for SQLite files, the one writer connection).
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx := s.openGormTx(ctx); tx != nil {
		return tx.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}

// reader returns the handle a method that only reads uses: the open transaction in ctx,
// or the readers (for SQLite files, query-only connections beside the writer; the pool
// otherwise).
func (s *Store) reader(ctx context.Context) *gorm.DB {
	if tx := s.openGormTx(ctx); tx != nil {
		return tx.WithContext(ctx)
	}
	return s.read.WithContext(ctx)
}

// inTx runs fn atomically: inside ctx's transaction when there is one, else in a new one.
func (s *Store) inTx(ctx context.Context, fn func(db *gorm.DB) error) error {
	if tx := s.openGormTx(ctx); tx != nil {
		return fn(tx.WithContext(ctx))
	}
	return s.newTx(ctx, s.txOptions(), fn)
}

// newTx runs fn in a new transaction with opts. fn's error is returned as is (fn maps its
// own errors); BEGIN's and COMMIT's are mapped.
func (s *Store) newTx(ctx context.Context, opts *sql.TxOptions, fn func(db *gorm.DB) error) error {
	return s.newConnTx(ctx, opts, func(st *txState) error { return fn(s.gormTx(st)) })
}

// inConnTx is inTx for the hot paths: fn gets the transaction's state, whose conn runs
// statements without GORM (s.gormTx(st) gives GORM's handle where a rare branch needs it).
func (s *Store) inConnTx(ctx context.Context, fn func(st *txState) error) error {
	if ref := txFrom(ctx); ref != nil {
		ref.st.mu.Lock()
		open := !ref.st.done
		ref.st.mu.Unlock()
		if open {
			return fn(ref.st)
		}
	}
	return s.newConnTx(ctx, s.txOptions(), fn)
}

// newConnTx runs fn in a new transaction with opts: newTx without GORM's handle unless
// fn asks for it.
func (s *Store) newConnTx(ctx context.Context, opts *sql.TxOptions, fn func(st *txState) error) error {
	st, err := s.startTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		if rerr := st.rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.log.WarnContext(ctx, "rollback failed", "error", rerr)
		}
		return err
	}
	return s.mapErr(st.commit())
}
