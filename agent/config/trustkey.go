package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/autocv/autocv/protocol/modelpkg"
)

// DefaultTrustKeyName is the key file looked for beside the package when
// no trust key is given.
const DefaultTrustKeyName = "signing.pub"

// ErrNoTrustKey means no key to check the package's signature was given
// and none lies beside the package. The agent refuses to start without one.
var ErrNoTrustKey = errors.New("没有可信的签名公钥，拒绝启动 / no trusted signing key, refusing to start")

// TrustKey is a public key the model package must be signed with.
type TrustKey struct {
	Path string // where it was read from
	PEM  []byte // PKIX PEM, as the plugin wants it
	ID   string // short fingerprint for logs and messages
}

// LoadTrustKey reads the key the package must be signed with: c.TrustKey,
// or signing.pub beside c.Package when that is empty.
func (c *Serve) LoadTrustKey() (TrustKey, error) {
	path := c.TrustKey
	if path == "" {
		path = filepath.Join(filepath.Dir(c.Package), DefaultTrustKeyName)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return TrustKey{}, fmt.Errorf("%w\n"+
				"  请用 --trust-key FILE（或环境变量 AUTOCV_TRUST_KEY，或配置文件中的 trust_key）指定签发该模型包的公钥，"+
				"或把公钥放在模型包旁边：%s\n"+
				"  give the public key that signed the package with --trust-key FILE (or AUTOCV_TRUST_KEY, or trust_key "+
				"in the config file), or put it beside the package as %s", ErrNoTrustKey, path, path)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return TrustKey{}, fmt.Errorf("trusted key: %w", err)
	}
	pub, err := modelpkg.ParsePublicKey(data)
	if err != nil {
		return TrustKey{}, fmt.Errorf("trusted key %s: %w (want a PEM \"PUBLIC KEY\" ed25519 key, as the trainer writes to signing.pub)", path, err)
	}
	pemData, err := modelpkg.MarshalPublicKey(pub)
	if err != nil {
		return TrustKey{}, err
	}
	return TrustKey{Path: path, PEM: pemData, ID: modelpkg.KeyID(pub)}, nil
}

// CheckPackage reports a clear error when the package file is missing or
// is not a regular file.
func (c *Serve) CheckPackage() error {
	fi, err := os.Stat(c.Package)
	if err != nil {
		return fmt.Errorf("model package: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("model package %s is not a file (want the .tar.gz the trainer wrote)", c.Package)
	}
	return nil
}
