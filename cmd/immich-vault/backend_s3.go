package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/retry"
	"github.com/immich-vault/immich-vault/repo/backend/s3"
)

// S3 and bandwidth options. They are defined on pflag.CommandLine, which
// cobra adds to the root command's persistent flags, so that this file
// needs no change to the shared root command.
var s3opts struct {
	connections  int
	region       string
	pathStyle    bool
	storageClass string
	profile      string
	limitUp      int64
	limitDown    int64
}

func init() {
	f := pflag.CommandLine
	f.IntVar(&s3opts.connections, "s3-connections", envInt("IMMICH_VAULT_S3_CONNECTIONS", s3.DefaultConnections),
		"parallel S3 connections (env IMMICH_VAULT_S3_CONNECTIONS)")
	f.StringVar(&s3opts.region, "s3-region", os.Getenv("IMMICH_VAULT_S3_REGION"),
		"S3 `region` (env IMMICH_VAULT_S3_REGION, else AWS_REGION, else us-east-1)")
	f.BoolVar(&s3opts.pathStyle, "s3-path-style", os.Getenv("IMMICH_VAULT_S3_PATH_STYLE") == "true",
		"address buckets as ENDPOINT/BUCKET (always on for s3:http(s)://HOST/BUCKET locations)")
	f.StringVar(&s3opts.storageClass, "s3-storage-class", os.Getenv("IMMICH_VAULT_S3_STORAGE_CLASS"),
		"storage `class` for data packs, e.g. STANDARD_IA (env IMMICH_VAULT_S3_STORAGE_CLASS)")
	f.StringVar(&s3opts.profile, "s3-profile", "", "AWS shared-config `profile` (default: AWS_PROFILE)")
	f.Int64Var(&s3opts.limitUp, "limit-upload", int64(envInt("IMMICH_VAULT_LIMIT_UPLOAD", 0)),
		"limit uploads to `KiB/s` (env IMMICH_VAULT_LIMIT_UPLOAD; 0: unlimited)")
	f.Int64Var(&s3opts.limitDown, "limit-download", int64(envInt("IMMICH_VAULT_LIMIT_DOWNLOAD", 0)),
		"limit downloads to `KiB/s` (env IMMICH_VAULT_LIMIT_DOWNLOAD; 0: unlimited)")
	registerBackend("s3:", openS3)
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

const s3Help = `S3 repositories: -r s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX] for a self-hosted
server (MinIO, Ceph, versitygw, ...), or -r s3:BUCKET[/PREFIX] for AWS.
Credentials come from the standard AWS chain: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --s3-profile with ~/.aws/credentials.`

// openS3 opens an S3 location: s3 → bandwidth limit → retries → friendly
// credential errors.
func openS3(loc string) (backend.Backend, error) {
	cfg, err := s3.ParseLocation(loc)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s3Help)
	}
	cfg.Connections = s3opts.connections
	cfg.Region = s3opts.region
	cfg.PathStyle = cfg.PathStyle || s3opts.pathStyle
	cfg.StorageClass = s3opts.storageClass
	cfg.Profile = s3opts.profile
	be, err := s3.Open(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w\n%s", loc, err, s3Help)
	}
	var wrapped backend.Backend = be
	wrapped = limit.New(wrapped, s3opts.limitUp, s3opts.limitDown)
	wrapped = retry.New(wrapped, retry.Options{
		OnRetry: func(op string, h backend.Handle, attempt int, err error, d time.Duration) {
			if gopts.verbose > 0 {
				gopts.warnf("%s %v failed (attempt %d), retrying in %v: %v", op, h, attempt, d.Round(time.Millisecond), err)
			}
		},
	})
	return &s3Friendly{Backend: wrapped, loc: be.Location()}, nil
}

// s3CredentialsError is what the user sees when the server refuses the
// credentials; errors.Is still finds s3.ErrAuth.
type s3CredentialsError struct {
	loc string
	err error
}

func (e *s3CredentialsError) Error() string {
	return fmt.Sprintf("S3 refused the credentials for %s: check AWS_SECRET_ACCESS_KEY and AWS_ACCESS_KEY_ID "+
		"(or AWS_PROFILE / --s3-profile) and that this key may access the bucket\n(server said: %v)", e.loc, e.err)
}
func (e *s3CredentialsError) Unwrap() error { return e.err }

// s3Friendly turns credential errors into s3CredentialsError; Location,
// Properties and Close are the wrapped backend's.
type s3Friendly struct {
	backend.Backend
	loc string
}

func (f *s3Friendly) Unwrap() backend.Backend { return f.Backend }

func (f *s3Friendly) fix(err error) error {
	if errors.Is(err, s3.ErrAuth) {
		return &s3CredentialsError{loc: f.loc, err: err}
	}
	return err
}

func (f *s3Friendly) Create(ctx context.Context) error { return f.fix(f.Backend.Create(ctx)) }
func (f *s3Friendly) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	return f.fix(f.Backend.Save(ctx, h, rd))
}
func (f *s3Friendly) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	return f.fix(f.Backend.Load(ctx, h, length, offset, fn))
}
func (f *s3Friendly) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	fi, err := f.Backend.Stat(ctx, h)
	return fi, f.fix(err)
}
func (f *s3Friendly) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	return f.fix(f.Backend.List(ctx, t, fn))
}
func (f *s3Friendly) Remove(ctx context.Context, h backend.Handle) error {
	return f.fix(f.Backend.Remove(ctx, h))
}
