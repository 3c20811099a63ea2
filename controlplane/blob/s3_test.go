package blob

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestS3 runs the conformance suite with the real minio-go client over real
// HTTP against gofakes3 (in-memory backend) on a loopback port. Each store gets
// its own bucket so the tests that count blobs see an empty store.
func TestS3(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4("test-access", "test-secret", ""),
		Secure:       false,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	testStore(t, func(t *testing.T) Store {
		bucket := "autocv-test-" + strconv.FormatInt(n.Add(1), 10)
		if err := client.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		s, err := NewS3(client, S3Options{Bucket: bucket, Prefix: "autocv/", PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
