package redisconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
)

func TestClientStandalone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := config.Default().Redis
	c.Addr = srv.Addr()
	c.DB = 3

	rdb, err := Client(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := t.Context()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	opt, err := ConnOpt(c)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	queues, err := inspector.Queues()
	if err != nil || len(queues) != 0 {
		t.Fatalf("Queues() = %v, %v; want none", queues, err)
	}
	// The same database as Client: asynq's client sees the key.
	direct := opt.MakeRedisClient().(redis.UniversalClient)
	defer direct.Close()
	if got, err := direct.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k through ConnOpt = %q, %v; want v", got, err)
	}
}

// TestContextDeadlineBoundsCalls checks that a call's context deadline
// bounds the wait for a frozen Redis (ContextTimeoutEnabled), well before
// the read timeout.
func TestContextDeadlineBoundsCalls(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := config.Default().Redis
	c.Addr = srv.Addr()
	c.ReadTimeout = 10 * time.Second
	rdb, err := Client(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	thaw := srv.FreezeUntil(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = rdb.Get(ctx, "k").Err()
	took := time.Since(start)
	if err == nil || took > 2*time.Second {
		t.Fatalf("GET on a frozen Redis: %v after %s; want a timeout after about 300ms", err, took)
	}
	thaw()
}

func TestConnOptModes(t *testing.T) {
	t.Parallel()
	base := config.Default().Redis
	base.Username, base.Password, base.PoolSize = "u", "p", 7
	addrs := []string{"10.0.0.1:26379", "10.0.0.2:26379"}

	sentinel := base
	sentinel.Mode, sentinel.Addrs, sentinel.MasterName, sentinel.SentinelPassword, sentinel.DB = config.ModeSentinel, addrs, "mymaster", "sp", 2
	cluster := base
	cluster.Mode, cluster.Addrs = config.ModeCluster, addrs

	// ConnOpt and Client build the same go-redis client for each mode.
	check := func(name string, rdb any, want any) {
		t.Helper()
		defer rdb.(redis.UniversalClient).Close()
		var got any
		switch c := rdb.(type) {
		case *redis.Client:
			o := c.Options()
			got = [...]any{"client", o.Addr, o.Username, o.Password, o.DB, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.ContextTimeoutEnabled}
		case *redis.ClusterClient:
			o := c.Options()
			got = [...]any{"cluster", o.Addrs, o.Username, o.Password, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.ContextTimeoutEnabled}
		default:
			t.Fatalf("%s: unexpected client %T", name, rdb)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
	}
	tests := []struct {
		in   config.RedisConfig
		want any
	}{
		// Every mode honours context deadlines (ContextTimeoutEnabled).
		{base, [...]any{"client", "127.0.0.1:6379", "u", "p", 0, 7, 5 * time.Second, 3 * time.Second, true}},
		// A failover client is a *redis.Client whose address is resolved
		// through the sentinels.
		{sentinel, [...]any{"client", "FailoverClient", "u", "p", 2, 7, 5 * time.Second, 3 * time.Second, true}},
		{cluster, [...]any{"cluster", addrs, "u", "p", 7, 5 * time.Second, 3 * time.Second, true}},
	}
	for _, tt := range tests {
		opt, err := ConnOpt(tt.in)
		if err != nil {
			t.Fatalf("ConnOpt(%s): %v", tt.in.Mode, err)
		}
		check("ConnOpt("+tt.in.Mode+")", opt.MakeRedisClient(), tt.want)
		rdb, err := Client(tt.in)
		if err != nil {
			t.Fatalf("Client(%s): %v", tt.in.Mode, err)
		}
		check("Client("+tt.in.Mode+")", rdb, tt.want)

		// The producer's clients are the same but for go-redis's own
		// re-sends, off (MaxRetries -1, which go-redis stores as 0); the
		// others keep go-redis's default (3). A cluster client has no
		// re-sends of that kind (go-redis stores -1 either way) but
		// follows redirects and fails over between nodes.
		popt, err := ProducerConnOpt(tt.in)
		if err != nil {
			t.Fatalf("ProducerConnOpt(%s): %v", tt.in.Mode, err)
		}
		prdb, err := ProducerClient(tt.in)
		if err != nil {
			t.Fatalf("ProducerClient(%s): %v", tt.in.Mode, err)
		}
		plain, err := Client(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]any{"ProducerConnOpt": popt.MakeRedisClient(), "ProducerClient": prdb, "Client": plain} {
			check(name+"("+tt.in.Mode+")", c, tt.want)
			want := 0
			switch {
			case tt.in.Mode == config.ModeCluster:
				want = -1
			case name == "Client":
				want = 3
			}
			if got := maxRetries(c); got != want {
				t.Errorf("%s(%s): MaxRetries %d, want %d", name, tt.in.Mode, got, want)
			}
		}
	}

	bad := base
	bad.Mode = "replica"
	want := `redis.mode: "replica" is not valid; expected standalone, sentinel or cluster`
	if _, err := ConnOpt(bad); err == nil || err.Error() != want {
		t.Errorf("ConnOpt(bad mode) error = %v, want %s", err, want)
	}
	if _, err := Client(bad); err == nil || err.Error() != want {
		t.Errorf("Client(bad mode) error = %v, want %s", err, want)
	}
}

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, into dir.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tuskq test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestClientMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, t.TempDir())
	tlsPort := freePort(t)
	redistest.Start(t, redistest.WithArgs(
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", pki.serverCert,
		"--tls-key-file", pki.serverKey,
		"--tls-ca-cert-file", pki.caFile,
		"--tls-auth-clients", "yes",
	))
	c := config.Default().Redis
	c.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	c.TLS = config.TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}

	rdb, err := Client(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING over mutual TLS: %v", err)
	}

	opt, err := ConnOpt(c)
	if err != nil {
		t.Fatal(err)
	}
	viaAsynq := opt.MakeRedisClient().(redis.UniversalClient)
	defer viaAsynq.Close()
	if err := viaAsynq.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING over mutual TLS through ConnOpt: %v", err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		in   config.TLSConfig
		want string
	}{
		{"missing CA", config.TLSConfig{CAFile: missing}, "redis.tls.ca_file: open " + missing + ": no such file or directory"},
		{"CA not PEM", config.TLSConfig{CAFile: notPEM}, "redis.tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"missing cert", config.TLSConfig{CertFile: missing, KeyFile: pki.clientKey}, "redis.tls.cert_file: open " + missing + ": no such file or directory"},
		{"missing key", config.TLSConfig{CertFile: pki.clientCert, KeyFile: missing}, "redis.tls.key_file: open " + missing + ": no such file or directory"},
		{"cert without key", config.TLSConfig{CertFile: pki.clientCert}, "redis.tls.cert_file and redis.tls.key_file: set both or neither"},
		{"key of another cert", config.TLSConfig{CertFile: pki.clientCert, KeyFile: pki.serverKey},
			"redis.tls.cert_file " + pki.clientCert + " and redis.tls.key_file " + pki.serverKey + ": tls: private key does not match public key"},
	}
	for _, tt := range tests {
		_, err := TLSConfig(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error = %v\nwant %s", tt.name, err, tt.want)
		}
		c := config.Default().Redis
		c.TLS = tt.in
		if _, err := ConnOpt(c); err == nil || err.Error() != tt.want {
			t.Errorf("%s: ConnOpt error = %v\nwant %s", tt.name, err, tt.want)
		}
	}

	if conf, err := TLSConfig(config.TLSConfig{}); conf != nil || err != nil {
		t.Errorf("TLSConfig(zero) = %v, %v; want nil, nil", conf, err)
	}
	conf, err := TLSConfig(config.TLSConfig{ServerName: "redis.internal"})
	if err != nil || conf == nil || conf.ServerName != "redis.internal" || conf.RootCAs != nil {
		t.Errorf("TLSConfig(server_name only) = %+v, %v; want TLS on with system roots", conf, err)
	}
}

// maxRetries returns go-redis's MaxRetries of a client.
func maxRetries(c any) int {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().MaxRetries
	case *redis.ClusterClient:
		return c.Options().MaxRetries
	}
	return 0
}
