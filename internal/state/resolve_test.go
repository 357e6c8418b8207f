package state

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveURL(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "state-dsn")
	if err := os.WriteFile(dsnFile, []byte("postgres://crmsync:s3cret@db:5432/crmsync\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRMSYNC_TEST_DSN", "postgres://crmsync:s3cret@db/crmsync")
	t.Setenv("CRMSYNC_TEST_BAD", "mysql://x")
	cases := []struct {
		reason  string
		flag    string
		want    string
		wantErr string
	}{
		{reason: "sqlite is used as it is", flag: "sqlite:///var/lib/crmsync/state.db", want: "sqlite:///var/lib/crmsync/state.db"},
		{reason: "a password may come from the environment", flag: "env:CRMSYNC_TEST_DSN", want: "postgres://crmsync:s3cret@db/crmsync"},
		{reason: "a password may come from a mounted file", flag: "file:" + dsnFile, want: "postgres://crmsync:s3cret@db:5432/crmsync"},
		{reason: "postgres without a password is fine on the command line", flag: "postgres://crmsync@db/crmsync?sslmode=verify-full", want: "postgres://crmsync@db/crmsync?sslmode=verify-full"},
		{reason: "a password in the flag is refused", flag: "postgres://crmsync:s3cret@db/crmsync", wantErr: "--state-store=env:CRMSYNC_STATE_DSN"},
		{reason: "a password in the query is refused", flag: "postgresql://db/crmsync?user=a&password=s3cret", wantErr: "file:/path"},
		{reason: "an unset variable is named", flag: "env:CRMSYNC_TEST_UNSET", wantErr: "environment variable CRMSYNC_TEST_UNSET is empty or unset"},
		{reason: "an empty file is reported", flag: "file:" + emptyFile, wantErr: "the file is empty"},
		{reason: "a missing file is reported", flag: "file:" + filepath.Join(dir, "nope"), wantErr: "no such file"},
		{reason: "a resolved value must be a store URL", flag: "env:CRMSYNC_TEST_BAD", wantErr: `starts with "mysql:"`},
		{reason: "unknown schemes are refused", flag: "mysql://root:pw@x/db", wantErr: `unsupported value starting with "mysql:"`},
		{reason: "empty is refused", flag: "", wantErr: "--state-store is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got, err := ResolveURL(tc.flag)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ResolveURL(%q) error = %v, want it to contain %q", tc.flag, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveURL(%q) = %q, %v; want %q", tc.flag, got, err, tc.want)
			}
		})
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://crmsync:s3cret@127.0.0.1:1/crmsync?connect_timeout=2")
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "crmsync@127.0.0.1:1/crmsync") {
		t.Errorf("error does not say where it tried to connect: %v", err)
	}
	if _, err := Open(context.Background(), "mysql://x"); err == nil || !strings.Contains(err.Error(), "unsupported store") {
		t.Errorf("Open(mysql://) error = %v", err)
	}
}

func TestOpenFromFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t.Setenv("CRMSYNC_TEST_STATE", "sqlite://"+path)
	s, err := OpenFromFlag(context.Background(), "env:CRMSYNC_TEST_STATE")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the store file was not created: %v", err)
	}
	if _, err := OpenFromFlag(context.Background(), "postgres://u:pw@h/db"); err == nil {
		t.Error("OpenFromFlag accepted a password on the command line")
	}
}
