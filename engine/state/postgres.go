package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore is the Store kept in a PostgreSQL database (pgx, through a
// pgxpool), so that several `cordon serve` replicas, and the commands run
// against them, share one state (docs/daemon.md, scaling out).
//
// Every guarantee of the SQLite store holds here, enforced by PostgreSQL
// rather than by a single writer:
//
//   - Writes are transactions at READ COMMITTED. Where a write reads before
//     it writes, the read takes a row lock, or the write is one conditional
//     statement that PostgreSQL re-checks against the latest committed row;
//     each method says which. A transaction PostgreSQL aborts to break a
//     deadlock or a serialization conflict is run again, a few times.
//   - Reads that take several queries run in one REPEATABLE READ, read-only
//     transaction: they see one snapshot, as SQLite's readers do.
//   - The audit trail is append-only in the database: plpgsql triggers
//     refuse to change or remove finished action records, evidence,
//     timeline events, rejections, lock events and processed deliveries,
//     and to move a plan's status back (see postgres_migrate.go).
//   - Target locks are session-level advisory locks held by a database
//     session of their own, so a replica that dies (SIGKILL, a lost host)
//     loses them when its session ends, whatever host it ran on (see
//     postgres_lock.go).
//   - max_actions_per_hour is counted under a transaction-level advisory
//     lock per rule, so replicas cannot both take a rule's last slot.
//
// Durability: each commit is synchronous; a server or database configured
// with synchronous_commit = off is overridden for cordon's sessions, for
// the reason SQLiteStore uses synchronous=FULL.
//
// Jobs: with an Enqueuer, the writes that create work for the daemon
// insert its jobs in their own transaction (see Job).
//
// The DSN's password never leaves the store: String describes the
// database without it, and every error is scrubbed of it.
//
// The lock sessions need session-level connections: a pooler in
// transaction mode (PgBouncer's pool_mode = transaction) would hand the
// session, and its locks, to others.
type PostgresStore struct {
	pool     *pgxpool.Pool
	lockConf *pgx.ConnConfig // a lock session's connection
	desc     string          // the database, without the password
	secrets  []string        // what errors must not show
	schema   string          // where the tables are
	enq      atomic.Pointer[enqueuer]
	pid      int
	host     string

	mu   sync.Mutex
	held map[string]*pgLock // lock token → its session, released on Close
	// idle are lock sessions whose locks were released, kept for the next
	// Lock: opening a session costs a connection and its setup, on the
	// path between a finding and its containment.
	idle chan *pgx.Conn
	done bool
}

var _ Store = (*PostgresStore)(nil)

// PostgresOptions are how OpenPostgres opens the store.
type PostgresOptions struct {
	// Enqueuer, when set, inserts the daemon's jobs in the transactions of
	// the writes that create them (see Job). Nil creates no jobs.
	Enqueuer Enqueuer
	// Schema is the schema of cordon's tables, created if missing. Empty
	// uses the connection's own (the first existing schema of its
	// search_path, normally public). Tests use one schema per test.
	Schema string
	// MustExist refuses a database (or schema) that holds no cordon state
	// yet instead of creating the tables: for commands that only read.
	MustExist bool
	// MaxConns bounds the pool (0: pgxpool's default, or the DSN's
	// pool_max_conns). Each held Lock has a session of its own besides.
	MaxConns int32
}

const (
	// pgOpenTimeout bounds connecting and migrating when the caller's
	// context has no deadline and the DSN no connect_timeout.
	pgOpenTimeout = time.Minute
	// pgApplicationName names cordon's sessions in pg_stat_activity,
	// unless the DSN names them.
	pgApplicationName = "cordon"
	// pgDefaultMaxConns is the pool's size when neither the options nor
	// the DSN set it, unless pgxpool's default (the CPUs) is larger.
	pgDefaultMaxConns = 10
	// pgTxAttempts is how many times a transaction PostgreSQL aborted for
	// a deadlock or a serialization failure is run.
	pgTxAttempts = 5
)

// OpenPostgres connects to the PostgreSQL database dsn names (a
// postgres:// URL or key=value pairs) and migrates cordon's schema to this
// cordon's version, under an advisory lock, so replicas starting together
// migrate it once. A database with tables that are not cordon's, or whose
// schema is newer than this cordon knows, is refused. Errors never show
// the DSN's password.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (_ *PostgresStore, err error) {
	secrets := dsnSecrets(dsn)
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("state database: the postgres dsn is empty")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("state database: the dsn is not a PostgreSQL connection string: %s", parseReason(err, dsn, secrets))
	}
	if cfg.ConnConfig.Password != "" {
		secrets = appendSecret(secrets, cfg.ConnConfig.Password)
	}
	s := &PostgresStore{
		desc:    describeDSN(cfg.ConnConfig, opts.Schema),
		secrets: secrets,
		pid:     os.Getpid(),
		held:    map[string]*pgLock{},
	}
	s.host, _ = os.Hostname()
	s.SetEnqueuer(opts.Enqueuer)
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = pgApplicationName
	}
	if opts.Schema != "" {
		rp["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		// Room for the job queue's listener and fetchers beside the
		// daemon's workers.
		cfg.MaxConns = max(cfg.MaxConns, pgDefaultMaxConns)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error { return prepareSession(ctx, c) }
	s.lockConf = cfg.ConnConfig.Copy()
	s.lockConf.RuntimeParams["application_name"] = rp["application_name"] + " (lock)"
	// The server notices a lock holder whose host vanished (no FIN, no
	// RST) by keepalives: within about a minute, rather than the OS
	// default of hours. They are per-session settings.
	s.lockConf.RuntimeParams["tcp_keepalives_idle"] = "30"
	s.lockConf.RuntimeParams["tcp_keepalives_interval"] = "10"
	s.lockConf.RuntimeParams["tcp_keepalives_count"] = "3"

	if _, ok := ctx.Deadline(); !ok && cfg.ConnConfig.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pgOpenTimeout)
		defer cancel()
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.openError(err)
	}
	defer func() {
		if err != nil {
			s.pool.Close()
		}
	}()
	schema, err := migratePostgres(ctx, s.pool, opts.Schema, postgresMigrations, opts.MustExist)
	if err != nil {
		return nil, s.openError(err)
	}
	s.schema = schema
	if opts.Schema == "" {
		s.desc = describeDSN(cfg.ConnConfig, schema)
	}
	return s, nil
}

// prepareSession readies each new session: times are read back in UTC,
// as the SQLite store returns them, and commits wait for the WAL flush
// even where the server's default does not.
func prepareSession(ctx context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{
		Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	_, err := c.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false)
        WHERE current_setting('synchronous_commit') = 'off'`)
	return err
}

// Pool returns the store's connection pool, for the job queue that shares
// its database (River) and for tests.
func (s *PostgresStore) Pool() *pgxpool.Pool { return s.pool }

// enqueuer boxes an Enqueuer for an atomic.Pointer.
type enqueuer struct{ Enqueuer }

// SetEnqueuer sets (or, with nil, removes) the Enqueuer that inserts the
// daemon's jobs (see PostgresOptions.Enqueuer). `cordon serve` sets it
// once its job queue's client, made on Pool, exists; writes from then on
// enqueue their jobs.
func (s *PostgresStore) SetEnqueuer(e Enqueuer) {
	if e == nil {
		s.enq.Store(nil)
		return
	}
	s.enq.Store(&enqueuer{e})
}

// Schema returns the schema of cordon's tables.
func (s *PostgresStore) Schema() string { return s.schema }

// String describes the database: user, host, port, database and schema,
// never the password.
func (s *PostgresStore) String() string { return s.desc }

// Close releases the locks this store still holds, then closes the pool.
// A second Close does nothing.
func (s *PostgresStore) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	held := s.held
	s.held = nil
	s.mu.Unlock()

	var errs []error
	for _, l := range held {
		errs = append(errs, s.unlock(l))
	}
	s.closeIdle()
	s.pool.Close()
	return errors.Join(errs...)
}

// self is this process as the store records it (see process_identity.go).
func (s *PostgresStore) self() process {
	boot, start := selfIdentity()
	return process{PID: s.pid, Host: s.host, BootID: boot, Start: start}
}

// write runs fn in a READ COMMITTED transaction and commits it, or rolls
// it back if fn fails. A transaction PostgreSQL aborted to break a
// deadlock, or for a serialization failure, is run again: fn must set its
// results afresh on every run.
func (s *PostgresStore) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.runTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

// read runs fn in a read-only REPEATABLE READ transaction: every query in
// it sees the same snapshot.
func (s *PostgresStore) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.runTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (s *PostgresStore) runTx(ctx context.Context, o pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	wait := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, s.pool, o, fn)
		if err == nil || attempt == pgTxAttempts || !retryable(err) {
			return s.dbError(err)
		}
		select {
		case <-ctx.Done():
			return s.dbError(err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// retryable reports whether PostgreSQL aborted a transaction that may
// succeed if run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// isPgForeignKeyError reports whether err is a violated foreign key.
func isPgForeignKeyError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// openError explains a failure to open the database.
func (s *PostgresStore) openError(err error) error {
	return s.dbError(fmt.Errorf("state database %s: %w", s.desc, err))
}

// dbError names the database in an error PostgreSQL (or the connection)
// returned, and scrubs every error of the DSN's password; the errors the
// store makes itself already say what they are about.
func (s *PostgresStore) dbError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	if (errors.As(err, &pe) || errors.As(err, &ce)) && !strings.HasPrefix(err.Error(), "state database ") {
		err = fmt.Errorf("state database %s: %w", s.desc, err)
	}
	return scrubError(err, s.secrets)
}

// redactedError is an error whose text had a secret removed. It answers
// errors.Is and errors.As as the original did, but prints only its
// redacted text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
func (e *redactedError) As(target any) bool   { return errors.As(e.err, target) }

// scrubError returns err, or, when its text shows a secret, an error
// whose text has it replaced.
func scrubError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := scrub(msg, secrets)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// scrub replaces the secrets in text. A secret of minScrubbed characters
// or more is replaced wherever it appears. A shorter one is replaced where
// a DSN quoted back carries it (":pw@", "password=pw"): replacing a short
// word everywhere would garble messages (a password "cordon" would take
// the word out of every error) while protecting nothing more, since every
// quoting of a DSN puts the password in one of those places.
func scrub(text string, secrets []string) string {
	for _, sec := range secrets {
		switch {
		case sec == "":
		case len(sec) >= minScrubbed:
			text = strings.ReplaceAll(text, sec, "xxxxx")
		default:
			text = strings.NewReplacer(
				":"+sec+"@", ":xxxxx@",
				"password='"+sec+"'", "password=xxxxx",
				"password="+sec, "password=xxxxx",
			).Replace(text)
		}
	}
	return text
}

// minScrubbed is the length from which a secret is scrubbed wherever it
// appears in an error.
const minScrubbed = 8

var (
	kvPassword    = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)
	queryPassword = regexp.MustCompile(`(?i)[?&](?:ssl)?password=([^&#]*)`)
)

// dsnSecrets returns what an error must not show of dsn: its passwords,
// found whether or not the DSN parses (an unparsable DSN is where a parser
// quotes it back), as written and percent-decoded, longest first.
func dsnSecrets(dsn string) []string {
	var out []string
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		// userinfo ends at the last '@' before the path: a password may
		// hold '@' and '/' unescaped.
		auth := rest
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(auth[:at], ":"); ok {
				out = appendSecret(out, pw)
			}
		}
		for _, m := range queryPassword.FindAllStringSubmatch(rest, -1) {
			out = appendSecret(out, m[1])
		}
	} else {
		for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
			v := m[1]
			if strings.HasPrefix(v, "'") {
				v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
				out = appendSecret(out, strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v))
			}
			out = appendSecret(out, v)
		}
	}
	return out
}

// appendSecret adds sec, and its percent-decoded and -encoded forms, to
// secrets, longest first so that a longer secret is replaced before a
// shorter one inside it.
func appendSecret(secrets []string, sec string) []string {
	forms := []string{sec, url.QueryEscape(sec), url.PathEscape(sec), url.UserPassword("u", sec).String()[2:]}
	if d, err := url.PathUnescape(sec); err == nil {
		forms = append(forms, d)
	}
	if d, err := url.QueryUnescape(sec); err == nil {
		forms = append(forms, d)
	}
	for _, f := range forms {
		if f != "" && !slices.Contains(secrets, f) {
			secrets = append(secrets, f)
		}
	}
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return secrets
}

// parseReason is why pgx could not parse dsn, without the DSN: pgx quotes
// it (redacting what it recognises as a password) and so do the errors
// under it (net/url quotes the URL whole, or the token it could not
// decode, which may be a piece of the password). Whatever they quote is
// left out.
func parseReason(err error, dsn string, secrets []string) string {
	msg := err.Error()
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		// "cannot parse `DSN`: reason": drop the quoted DSN.
		if i := strings.Index(msg, "`: "); strings.HasPrefix(msg, "cannot parse `") && i >= 0 {
			msg = msg[i+3:]
		}
	}
	msg = strings.ReplaceAll(msg, dsn, "(the dsn)")
	msg = quoted.ReplaceAllString(msg, "…")
	return scrub(msg, secrets)
}

// quoted matches what an error quotes.
var quoted = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")

// describeDSN describes a connection without its password, as a URL.
func describeDSN(c *pgx.ConnConfig, schema string) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Path: "/" + c.Database}
	if c.User == "" {
		u.User = nil
	}
	host := c.Host
	if strings.HasPrefix(host, "/") {
		// A Unix socket directory: a URL keeps it in the query.
		u.RawQuery = url.Values{"host": {host}}.Encode()
		host = ""
	}
	if c.Port != 0 && host != "" {
		host += ":" + strconv.Itoa(int(c.Port))
	}
	u.Host = host
	d := u.String()
	if schema != "" {
		d += " (schema " + schema + ")"
	}
	return d
}
