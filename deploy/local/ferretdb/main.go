// Command contact-search-ferretdb runs FerretDB with its SQLite backend as a local
// MongoDB wire-protocol server for development and integration tests.
//
// It embeds the github.com/FerretDB/FerretDB/ferretdb package instead of building
// FerretDB's own cmd/ferretdb: that command's version package panics when built from
// the module proxy, while an embedding main module skips the check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// sqliteURL turns a directory into the URL form FerretDB requires:
// "file:" prefix, absolute path, trailing slash, directory must exist.
func sqliteURL(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	return "file:" + strings.TrimSuffix(abs, "/") + "/", nil
}

func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	err := level.UnmarshalText([]byte(s))
	return level, err
}

func run() error {
	listenAddr := flag.String("listen-addr", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"),
		"TCP address to listen on (env FERRETDB_LISTEN_ADDR)")
	dataDir := flag.String("data-dir", envOr("FERRETDB_DATA_DIR", "ferretdb-data"),
		"directory holding the SQLite databases (env FERRETDB_DATA_DIR)")
	logLevel := flag.String("log-level", envOr("FERRETDB_LOG_LEVEL", "warn"),
		"debug, info, warn or error (env FERRETDB_LOG_LEVEL)")
	flag.Parse()

	level, err := parseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("bad log level %q: %w", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	url, err := sqliteURL(*dataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", *dataDir, err)
	}

	// New binds the listener, so a taken port fails here rather than inside Run.
	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: url,
	})
	if err != nil {
		return err
	}

	// SIGTERM/SIGINT cancel the context; Run then closes the listener, the open
	// connections and the SQLite backend before returning.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	go func() {
		// MongoDBURI blocks until Run has the listener up. Printed regardless of the log
		// level, so the log always shows where the server listened.
		fmt.Fprintf(os.Stderr, "contact-search-ferretdb: listening on %s, data in %s\n", server.MongoDBURI(), url)
	}()

	if err := server.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "contact-search-ferretdb: %v\n", err)
		os.Exit(1)
	}
}
