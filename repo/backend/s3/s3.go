// Package s3 stores a repository in an S3-compatible bucket (AWS, MinIO,
// Ceph, B2, Wasabi, versitygw) with aws-sdk-go-v2.
//
// Layout under the configured prefix mirrors the local backend:
// "immich-vault" (marker), "config", "keys/<name>", "data/<2 hex>/<name>",
// "index/<name>", "snapshots/<name>", "locks/<name>".
//
// Save never overwrites: it sends If-None-Match: * (on PutObject and on
// CompleteMultipartUpload) and maps the server's 412/409 answers to
// backend.ErrExists. Packs larger than Config.MultipartThreshold go up as a
// multipart upload, aborted on any failure so no partial object is left.
// Load uses range GETs and never returns a silently short read. The SDK's
// own retries are disabled: wrap the backend in repo/backend/retry.
//
// A Backend is safe for concurrent use; Properties().Connections says how
// many operations are worth running at once, and the HTTP transport keeps
// that many idle connections.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Defaults.
const (
	DefaultConnections        = 8
	DefaultRegion             = "us-east-1"
	DefaultMultipartThreshold = 32 << 20
	DefaultPartSize           = 16 << 20
	MinPartSize               = 5 << 20 // S3's minimum for all parts but the last
)

// ErrAuth: the server refused the credentials (wrong key, wrong secret,
// access denied). Errors wrapping it are permanent: retrying cannot help.
var ErrAuth = errors.New("s3: credentials refused")

// ErrConfig: the location or configuration is invalid.
var ErrConfig = errors.New("s3: invalid configuration")

// Config selects a bucket and how to reach it.
type Config struct {
	// Endpoint is the server URL ("http://127.0.0.1:7070"); empty for AWS.
	Endpoint string
	Bucket   string
	// Prefix is a folder inside the bucket ("" for the bucket root), without
	// leading or trailing slashes.
	Prefix string
	// Region (empty: from the AWS environment, else DefaultRegion).
	Region string
	// PathStyle addresses buckets as ENDPOINT/BUCKET (needed by most
	// self-hosted servers) instead of BUCKET.ENDPOINT.
	PathStyle bool
	// AccessKey/SecretKey: static credentials; empty means the standard AWS
	// chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, shared
	// config files, instance roles).
	AccessKey, SecretKey, SessionToken string
	// Profile selects a shared-config profile (empty: AWS_PROFILE/default).
	Profile string
	// StorageClass for data packs only (e.g. "STANDARD_IA"); metadata files
	// always use the bucket's default so they stay cheap to read.
	StorageClass string
	// Connections is the number of parallel operations (0: DefaultConnections).
	Connections int
	// MultipartThreshold: files at least this large use multipart upload
	// (0: DefaultMultipartThreshold). PartSize is the part size (0:
	// DefaultPartSize; at least MinPartSize).
	MultipartThreshold int64
	PartSize           int64
}

// ParseLocation parses "s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]" (a
// self-hosted server, path-style) or "s3:BUCKET[/PREFIX]" (AWS, endpoint
// from the environment). Credentials never come from the location.
func ParseLocation(loc string) (Config, error) {
	rest, ok := strings.CutPrefix(loc, "s3:")
	if !ok {
		return Config{}, fmt.Errorf("%w: %q does not start with s3:", ErrConfig, loc)
	}
	var cfg Config
	if strings.HasPrefix(rest, "http://") || strings.HasPrefix(rest, "https://") {
		u, err := url.Parse(rest)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if u.User != nil {
			return Config{}, fmt.Errorf("%w: credentials in the URL are refused: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", ErrConfig)
		}
		if u.Host == "" {
			return Config{}, fmt.Errorf("%w: %q has no host", ErrConfig, loc)
		}
		cfg.Endpoint = u.Scheme + "://" + u.Host
		cfg.PathStyle = true
		rest = u.Path
	}
	rest = strings.Trim(rest, "/")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Config{}, fmt.Errorf("%w: %q names no bucket (s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])", ErrConfig, loc)
	}
	cfg.Bucket = bucket
	cfg.Prefix = strings.Trim(path.Clean("/"+prefix), "/")
	return cfg, nil
}

// Backend is an S3 bucket (or a prefix in one).
type Backend struct {
	cfg    Config
	client *s3.Client
	loc    string
	pool   sync.Pool // *[]byte of PartSize, for multipart parts
}

var _ backend.Backend = (*Backend)(nil)

// Open returns a backend for cfg. It does not contact the server.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: no bucket", ErrConfig)
	}
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.MultipartThreshold <= 0 {
		cfg.MultipartThreshold = DefaultMultipartThreshold
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("%w: part size %d below S3's minimum %d", ErrConfig, cfg.PartSize, MinPartSize)
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 2 * cfg.Connections
		t.MaxIdleConnsPerHost = 2 * cfg.Connections
		t.WriteBufferSize = 256 << 10
		t.ReadBufferSize = 256 << 10
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	loc := "s3:"
	if cfg.Endpoint != "" {
		loc += cfg.Endpoint + "/"
	}
	loc += cfg.Bucket
	if cfg.Prefix != "" {
		loc += "/" + cfg.Prefix
	}
	b := &Backend{cfg: cfg, client: client, loc: loc}
	partSize := cfg.PartSize
	b.pool.New = func() any { buf := make([]byte, partSize); return &buf }
	return b, nil
}

// Location returns the location without credentials.
func (b *Backend) Location() string { return b.loc }

// Properties: Config.Connections; S3 has no atomic replace we rely on.
func (b *Backend) Properties() backend.Properties {
	return backend.Properties{Connections: b.cfg.Connections}
}

// Close releases idle connections.
func (b *Backend) Close() error { return nil }

func typeDir(t backend.FileType) string {
	switch t {
	case backend.KeyFile:
		return "keys"
	case backend.PackFile:
		return "data"
	case backend.IndexFile:
		return "index"
	case backend.SnapshotFile:
		return "snapshots"
	case backend.LockFile:
		return "locks"
	}
	return ""
}

func (b *Backend) join(p string) string {
	if b.cfg.Prefix == "" {
		return p
	}
	return b.cfg.Prefix + "/" + p
}

// key returns the object key of a valid handle.
func (b *Backend) key(h backend.Handle) string {
	h = h.Canonical()
	switch h.Type {
	case backend.MarkerFile, backend.ConfigFile:
		return b.join(h.Name)
	case backend.PackFile:
		return b.join("data/" + h.Name[:2] + "/" + h.Name)
	}
	return b.join(typeDir(h.Type) + "/" + h.Name)
}

// Create makes sure the bucket exists (creating it if missing) and fails
// with ErrExists if a marker is already stored.
func (b *Backend) Create(ctx context.Context) error {
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.MarkerFile}); err == nil {
		return fmt.Errorf("create %s: %w", b.loc, backend.ErrExists)
	} else if !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("create %s: %w", b.loc, err)
	}
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.cfg.Bucket)})
	if err == nil {
		return nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return b.wrap(ctx, "check bucket "+b.cfg.Bucket, err)
	}
	_, err = b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.cfg.Bucket)})
	if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return b.wrap(ctx, "create bucket "+b.cfg.Bucket, err)
	}
	return nil
}

// Save uploads rd under h unless an object of that name exists.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save %v: %w", h, err)
	}
	if err := rd.Rewind(); err != nil {
		return fmt.Errorf("save %v: rewind: %w", h, err)
	}
	var err error
	if rd.Length() >= b.cfg.MultipartThreshold {
		err = b.saveMultipart(ctx, h, rd)
	} else {
		err = b.savePut(ctx, h, rd)
	}
	if err != nil {
		return b.wrap(ctx, fmt.Sprintf("save %v", h), err)
	}
	return nil
}

func (b *Backend) storageClass(h backend.Handle) types.StorageClass {
	if h.Type == backend.PackFile && b.cfg.StorageClass != "" {
		return types.StorageClass(b.cfg.StorageClass)
	}
	return ""
}

func (b *Backend) savePut(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	body := &exactReader{rd: rd, n: rd.Length()}
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.cfg.Bucket),
		Key:           aws.String(b.key(h)),
		Body:          body,
		ContentLength: aws.Int64(rd.Length()),
		IfNoneMatch:   aws.String("*"),
		StorageClass:  b.storageClass(h),
	})
	if body.err != nil {
		return body.err
	}
	return err
}

func (b *Backend) saveMultipart(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	key := b.key(h)
	// Refuse early when the object exists; the conditional Complete below
	// closes the race with a concurrent writer.
	if _, err := b.Stat(ctx, h); err == nil {
		return backend.ErrExists
	} else if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:       aws.String(b.cfg.Bucket),
		Key:          aws.String(key),
		StorageClass: b.storageClass(h),
	})
	if err != nil {
		return err
	}
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), UploadId: up.UploadId})
	}
	bufp := b.pool.Get().(*[]byte)
	defer b.pool.Put(bufp)
	buf := *bufp
	total := rd.Length()
	var parts []types.CompletedPart
	var sent int64
	for num := int32(1); sent < total; num++ {
		n := min(int64(len(buf)), total-sent)
		if _, err := io.ReadFull(rd, buf[:n]); err != nil {
			abort()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read part %d: %w", num, err)
		}
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(b.cfg.Bucket),
			Key:           aws.String(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(n),
		})
		if err != nil {
			abort()
			return fmt.Errorf("upload part %d: %w", num, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		sent += n
	}
	// The reader must end exactly at Length().
	var one [1]byte
	if n, _ := rd.Read(one[:]); n > 0 {
		abort()
		return fmt.Errorf("reader delivers more than its length %d: %w", total, errLength)
	}
	_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.cfg.Bucket),
		Key:             aws.String(key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     aws.String("*"),
	})
	if err != nil {
		abort()
		return err
	}
	return nil
}

var errLength = errors.New("s3: reader length mismatch")

// exactReader presents a RewindReader as the io.ReadSeeker the SDK wants
// (it hashes the body, then seeks back to send it) and fails unless the
// reader delivers exactly n bytes. Seeks are lazy: they only record the
// target position, applied by the next Read (rewind and skip forward).
type exactReader struct {
	rd     backend.RewindReader
	n      int64
	pos    int64 // position of rd
	target int64 // position the next Read starts at
	err    error // sticky length error
}

func (r *exactReader) Seek(off int64, whence int) (int64, error) {
	var t int64
	switch whence {
	case io.SeekStart:
		t = off
	case io.SeekCurrent:
		t = r.target + off
	case io.SeekEnd:
		t = r.n + off
	default:
		return 0, errors.New("s3: bad whence")
	}
	if t < 0 {
		return 0, errors.New("s3: negative seek")
	}
	r.target = t
	return t, nil
}

func (r *exactReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.target != r.pos {
		if r.target < r.pos {
			if err := r.rd.Rewind(); err != nil {
				return 0, err
			}
			r.pos = 0
		}
		if _, err := io.CopyN(io.Discard, r.rd, r.target-r.pos); err != nil {
			r.err = fmt.Errorf("reader shorter than its length %d: %w", r.n, errLength)
			return 0, r.err
		}
		r.pos = r.target
	}
	if r.pos >= r.n {
		// Probe: a reader with more data than announced is an error.
		var one [1]byte
		if k, _ := r.rd.Read(one[:]); k > 0 {
			r.pos += int64(k)
			r.err = fmt.Errorf("reader delivers more than its length %d: %w", r.n, errLength)
			return 0, r.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.pos {
		p = p[:r.n-r.pos]
	}
	k, err := r.rd.Read(p)
	r.pos += int64(k)
	r.target = r.pos
	if err == io.EOF {
		if r.pos < r.n {
			r.err = fmt.Errorf("reader shorter than its length %d: %w", r.n, errLength)
			return k, r.err
		}
		err = nil
	}
	if err != nil {
		r.err = err
	}
	return k, err
}

// Load fetches [offset, offset+length) with a range GET.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if offset < 0 || length < 0 {
		return fmt.Errorf("load %v: invalid range offset %d length %d", h, offset, length)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(h))}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+int64(length)-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		if isStatus(err, http.StatusRequestedRangeNotSatisfiable) {
			return b.rangeNotSatisfiable(ctx, h, length, offset, fn)
		}
		return b.wrap(ctx, fmt.Sprintf("load %v", h), err)
	}
	defer out.Body.Close()
	var got int64 = -1
	if out.ContentLength != nil {
		got = *out.ContentLength
	}
	if length > 0 && got >= 0 && got < int64(length) {
		return fmt.Errorf("load %v: range [%d, %d) past end of file (%d bytes delivered): %w",
			h, offset, offset+int64(length), got, &rangeError{})
	}
	want := got
	if length > 0 {
		want = int64(length)
	}
	body := &checkedBody{rd: out.Body, left: want}
	if err := fn(body); err != nil {
		return b.wrapFn(ctx, h, err)
	}
	return nil
}

// rangeNotSatisfiable handles a 416: offset == size with length 0 is an
// empty read; anything else is past the end.
func (b *Backend) rangeNotSatisfiable(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	fi, err := b.Stat(ctx, h)
	if err != nil {
		return err
	}
	if length == 0 && offset == fi.Size {
		return fn(bytes.NewReader(nil))
	}
	return fmt.Errorf("load %v: range at %d (length %d) past end of %d-byte file: %w", h, offset, length, fi.Size, &rangeError{})
}

// rangeError is a request past the end of a file: io.ErrUnexpectedEOF, and
// permanent (retrying cannot help).
type rangeError struct{}

func (*rangeError) Error() string   { return io.ErrUnexpectedEOF.Error() }
func (*rangeError) Unwrap() error   { return io.ErrUnexpectedEOF }
func (*rangeError) Permanent() bool { return true }

// checkedBody turns a body that ends before its announced length into
// io.ErrUnexpectedEOF instead of a silent short read.
type checkedBody struct {
	rd   io.Reader
	left int64 // -1: unknown
}

func (c *checkedBody) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rd.Read(p)
	if c.left > 0 {
		c.left -= int64(n)
		if err == io.EOF && c.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		if c.left == 0 && err == nil {
			err = io.EOF
		}
	}
	return n, err
}

// Stat returns the size of h.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := h.Validate(); err != nil {
		return backend.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, err)
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(h))})
	if err != nil {
		return backend.FileInfo{}, b.wrap(ctx, fmt.Sprintf("stat %v", h), err)
	}
	return backend.FileInfo{Name: h.Canonical().Name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List pages through ListObjectsV2 (1000 keys a page).
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := (backend.Handle{Type: t, Name: "00"}).Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	if t.IsSingleton() {
		fi, err := b.Stat(ctx, backend.Handle{Type: t})
		if errors.Is(err, backend.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(fi)
	}
	prefix := b.join(typeDir(t) + "/")
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.cfg.Bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.wrap(ctx, fmt.Sprintf("list %s", t), err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			name := rel
			if t == backend.PackFile {
				dir, n, ok := strings.Cut(rel, "/")
				if !ok || len(dir) != 2 || !strings.HasPrefix(n, dir) {
					continue // not ours
				}
				name = n
			}
			if (backend.Handle{Type: t, Name: name}).Validate() != nil {
				continue // not ours (e.g. a "folder" object)
			}
			if err := fn(backend.FileInfo{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove deletes h; ErrNotFound if it does not exist (checked first: S3's
// DELETE succeeds on missing keys).
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if err := h.Validate(); err != nil {
		return err
	}
	// DeleteObject answers 204 whether or not the key existed (AWS S3
	// API reference, DeleteObject; versitygw's posix backend the same):
	// ErrNotFound for a missing file needs a HEAD first, one more round
	// trip, skipped when the caller does not tell the two apart.
	if !backend.IsMissingOK(ctx) {
		if _, err := b.Stat(ctx, h); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(h))})
	if err != nil {
		return b.wrap(ctx, fmt.Sprintf("remove %v", h), err)
	}
	return nil
}

// authError wraps ErrAuth and the server's message; it is permanent.
type authError struct {
	code string
	err  error
}

func (e *authError) Error() string {
	return fmt.Sprintf("%v (%s): %v", ErrAuth, e.code, e.err)
}
func (e *authError) Unwrap() []error { return []error{ErrAuth, e.err} }
func (e *authError) Permanent() bool { return true }

// wrap maps SDK errors onto the backend sentinels.
func (b *Backend) wrap(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%s: %w (%w)", what, ctxErr, err)
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case errors.Is(err, backend.ErrExists), errors.Is(err, backend.ErrNotFound), errors.Is(err, errLength):
		return fmt.Errorf("%s: %w", what, err)
	case isStatus(err, http.StatusPreconditionFailed), isStatus(err, http.StatusConflict) && code != "BucketNotEmpty":
		return fmt.Errorf("%s: %w", what, backend.ErrExists)
	case isStatus(err, http.StatusNotFound):
		if code == "NoSuchBucket" {
			return fmt.Errorf("%s: bucket %s does not exist: %w", what, b.cfg.Bucket, backend.ErrNotFound)
		}
		return fmt.Errorf("%s: %w", what, backend.ErrNotFound)
	case code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "AccessDenied" ||
		code == "InvalidToken" || code == "ExpiredToken" || code == "InvalidClientTokenId" ||
		isStatus(err, http.StatusForbidden) || isStatus(err, http.StatusUnauthorized):
		if code == "" {
			code = "HTTP 403"
		}
		return fmt.Errorf("%s: %w", what, &authError{code: code, err: err})
	case code == "EntityTooLarge" || code == "QuotaExceeded" || isStatus(err, http.StatusInsufficientStorage):
		return fmt.Errorf("%s: %w: %w", what, backend.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// wrapFn wraps an error returned by the caller's fn (or by reading the body
// inside it), keeping errors.Is on it.
func (b *Backend) wrapFn(ctx context.Context, h backend.Handle, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("load %v: %w (%w)", h, ctxErr, err)
	}
	return fmt.Errorf("load %v: %w", h, err)
}

func isStatus(err error, status int) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
