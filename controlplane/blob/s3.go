package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// DefaultPartSize is the multipart part size S3 uses when a Put's length is
// unknown. minio-go buffers one part in memory per upload, and a multipart
// upload has at most 10,000 parts, so the largest blob is 10,000 × PartSize
// (160 GiB at the default).
const DefaultPartSize = 16 << 20

// S3 stores blobs in an S3-compatible bucket under Prefix:
// <prefix>blobs/<sha[:2]>/<sha>.
//
// Put streams the content to a temp key (<prefix>tmp/<random>) while hashing
// it, with unknown size (a multipart upload when it exceeds one part), then
// server-side copies the temp key to the content key and deletes the temp key.
// Nothing is buffered on local disk, at the cost of one copy inside the store.
// Server-side CopyObject is limited to 5 GiB by S3, which bounds blob size.
// Concurrent puts of the same content each copy identical bytes to the same
// key, which S3 makes atomic per object.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

var _ Store = (*S3)(nil)

// S3Options configures NewS3.
type S3Options struct {
	Bucket string
	// Prefix is prepended to every key; use "" or a value ending in "/".
	Prefix string
	// PartSize for uploads of unknown length; 0 means DefaultPartSize.
	PartSize uint64
}

// NewS3 returns a store in an existing bucket, using a client the caller built
// (endpoint, credentials, TLS and bucket lookup style are the caller's).
func NewS3(client *minio.Client, opts S3Options) (*S3, error) {
	if opts.Bucket == "" {
		return nil, errors.New("blob store: S3 bucket name is empty")
	}
	if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("blob store: S3 prefix %q must end with \"/\"", opts.Prefix)
	}
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	return &S3{client: client, bucket: opts.Bucket, prefix: opts.Prefix, partSize: opts.PartSize}, nil
}

func (s *S3) key(sha string) string { return s.prefix + contentKey(sha) }

// Put implements Store.
func (s *S3) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	return s.put(ctx, "", r)
}

// PutKnown implements Store.
func (s *S3) PutKnown(ctx context.Context, sha string, r io.Reader) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	if _, err := s.Stat(ctx, sha); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, _, err := s.put(ctx, sha, r)
	return err
}

func (s *S3) put(ctx context.Context, want string, r io.Reader) (sha string, size int64, err error) {
	tmp := s.prefix + "tmp/" + rand.Text()
	hr := newHashingReader(ctx, r)
	// An empty body of unknown length goes out as a chunked request with no
	// Content-Length, which S3 refuses; peek one byte to send empty blobs as
	// size 0.
	var first [1]byte
	var body io.Reader = hr
	length := int64(-1)
	switch n, rerr := io.ReadFull(hr, first[:]); {
	case n == 0 && rerr == io.EOF:
		body, length = bytes.NewReader(nil), 0
	case rerr != nil && rerr != io.EOF:
		return "", 0, fmt.Errorf("blob put: %w", rerr)
	default:
		body = io.MultiReader(bytes.NewReader(first[:n]), hr)
	}
	_, err = s.client.PutObject(ctx, s.bucket, tmp, body, length, minio.PutObjectOptions{
		PartSize:    s.partSize,
		ContentType: "application/octet-stream",
		// Each part carries Content-MD5, so the server rejects bytes damaged
		// in transit; the per-chunk streaming signature minio-go would
		// otherwise use over plain HTTP is not decoded by every
		// S3-compatible server (gofakes3 stores the chunk framing).
		SendContentMd5:       true,
		DisableContentSha256: true,
	})
	if err != nil {
		s.removeTemp(ctx, tmp)
		return "", 0, fmt.Errorf("blob put: upload to bucket %s: %w", s.bucket, err)
	}
	defer s.removeTemp(ctx, tmp)
	sha, size = hr.sum(), hr.n
	if want != "" && sha != want {
		return "", 0, fmt.Errorf("%w: claimed %s, content is %s", ErrHashMismatch, want, sha)
	}
	if _, err := s.Stat(ctx, sha); err == nil {
		return sha, size, nil
	}
	_, err = s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: s.key(sha)},
		minio.CopySrcOptions{Bucket: s.bucket, Object: tmp})
	if err != nil {
		return "", 0, fmt.Errorf("blob put %s: copy into place: %w", sha, err)
	}
	return sha, size, nil
}

// removeTemp deletes a temp key even when the put's context was cancelled.
func (s *S3) removeTemp(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	if err := checkSHA(sha); err != nil {
		return nil, 0, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(sha), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s.mapErr(sha, err)
	}
	st, err := obj.Stat() // GetObject is lazy; Stat makes the request.
	if err != nil {
		obj.Close()
		return nil, 0, s.mapErr(sha, err)
	}
	return obj, st.Size, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, sha string) (int64, error) {
	if err := checkSHA(sha); err != nil {
		return 0, err
	}
	st, err := s.client.StatObject(ctx, s.bucket, s.key(sha), minio.StatObjectOptions{})
	if err != nil {
		return 0, s.mapErr(sha, err)
	}
	return st.Size, nil
}

// Delete implements Store. S3 deletes are idempotent, so Delete stats first
// to report ErrNotFound like Local does.
func (s *S3) Delete(ctx context.Context, sha string) error {
	if _, err := s.Stat(ctx, sha); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(sha), minio.RemoveObjectOptions{}); err != nil {
		return s.mapErr(sha, err)
	}
	return nil
}

func (s *S3) mapErr(sha string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket {
		return fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return fmt.Errorf("blob %s in bucket %s: %w", sha, s.bucket, err)
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield("", err)
			return
		}
		keyPrefix := s.prefix + "blobs/"
		if len(prefix) >= 2 {
			keyPrefix += prefix[:2] + "/" + prefix
		} else {
			keyPrefix += prefix
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops minio-go's listing goroutine on early break
		for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: keyPrefix, Recursive: true}) {
			if obj.Err != nil {
				yield("", fmt.Errorf("blob list in bucket %s: %w", s.bucket, obj.Err))
				return
			}
			rest := strings.TrimPrefix(obj.Key, s.prefix+"blobs/")
			dir, sha, ok := strings.Cut(rest, "/")
			if !ok || !ValidSHA(sha) || dir != sha[:2] || !strings.HasPrefix(sha, prefix) {
				continue
			}
			if !yield(sha, nil) {
				return
			}
		}
	}
}
