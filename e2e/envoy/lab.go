package envoy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProviderHosts are the hostnames the lab answers and certifies: every
// provider's default host, the regional ones for the regions the tests use,
// and a wildcard for Azure resources.
var ProviderHosts = []string{
	"api.openai.com",
	"api.deepseek.com",
	"api.aimlapi.com",
	"api.anthropic.com",
	"openrouter.ai",
	"generativelanguage.googleapis.com",
	"aiplatform.googleapis.com",
	"us-central1-aiplatform.googleapis.com",
	"europe-west4-aiplatform.googleapis.com",
	"oauth2.googleapis.com",
	"bedrock-runtime.us-east-1.amazonaws.com",
	"bedrock-runtime.us-west-2.amazonaws.com",
	"bedrock-runtime.eu-central-1.amazonaws.com",
	"*.openai.azure.com",
}

// Lab stands in for the internet the Envoy examples reach: a DNS server
// that resolves ProviderHosts to one loopback address, a CA that signs a
// certificate for them, and a TLS front on that address that hands each
// connection to the backend registered for its SNI name.
type Lab struct {
	// IP is the loopback address every provider name resolves to; each lab
	// has its own, so labs and the tests using them run side by side.
	IP net.IP
	// Port is the TLS front's port: 443 when the process may bind it (as
	// in production, so nothing in the config names a port), otherwise a
	// free port that LabConfig writes into the plugin configuration.
	Port int
	// CAFile is the PEM file of the lab CA, Envoy's trusted_ca.
	CAFile string
	// DNS answers the provider names.
	DNS *DNS

	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	cert     tls.Certificate
	ln       net.Listener
	mu       sync.Mutex
	backends map[string]string // SNI name → backend host:port
	wg       sync.WaitGroup
}

// NewLab starts a lab that lives until the test ends.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	l := &Lab{backends: map[string]string{}}
	if err := l.start(t.TempDir()); err != nil {
		t.Fatalf("starting the Envoy lab: %v", err)
	}
	t.Cleanup(l.close)
	return l
}

func (l *Lab) start(dir string) error {
	var err error
	if l.ca, l.caKey, err = newCA(); err != nil {
		return err
	}
	l.CAFile = filepath.Join(dir, "lab-ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.ca.Raw})
	if err := os.WriteFile(l.CAFile, caPEM, 0o644); err != nil {
		return err
	}
	if l.cert, err = l.Issue(ProviderHosts...); err != nil {
		return err
	}
	// A random 127.x.y.z keeps labs apart; port 443 when allowed.
	for range 20 {
		ip := net.IPv4(127, byte(1+mrand.IntN(250)), byte(mrand.IntN(256)), byte(1+mrand.IntN(250)))
		ln, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), "443"))
		if errors.Is(err, syscall.EACCES) {
			ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), "0"))
		}
		if err != nil {
			continue
		}
		l.IP, l.ln, l.Port = ip, ln, ln.Addr().(*net.TCPAddr).Port
		break
	}
	if l.ln == nil {
		return errors.New("no free loopback address for the TLS front")
	}
	if l.DNS, err = ListenDNS(l.IP); err != nil {
		l.ln.Close()
		return err
	}
	for _, h := range ProviderHosts {
		l.DNS.Set(h, l.IP)
	}
	l.wg.Add(1)
	go l.accept()
	return nil
}

func (l *Lab) close() {
	l.ln.Close()
	l.DNS.Close()
	l.wg.Wait()
}

// Route sends TLS connections for host (an SNI name, exactly as the client
// sends it) to backend, a plain-HTTP URL such as a mock's URL or an
// address host:port. The lab terminates TLS and copies bytes both ways, so
// the backend sees the request as sent and its writes reach Envoy as
// written.
func (l *Lab) Route(host, backend string) {
	if u, err := url.Parse(backend); err == nil && u.Host != "" {
		backend = u.Host
	}
	l.mu.Lock()
	l.backends[host] = backend
	l.mu.Unlock()
}

// Authority is how a provider host is reached: "host" on port 443, else
// "host:port".
func (l *Lab) Authority(host string) string {
	if l.Port == 443 {
		return host
	}
	return fmt.Sprintf("%s:%d", host, l.Port)
}

func (l *Lab) accept() {
	defer l.wg.Done()
	cfg := &tls.Config{Certificates: []tls.Certificate{l.cert}, NextProtos: []string{"http/1.1"}}
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.relay(tls.Server(c, cfg))
		}()
	}
}

func (l *Lab) relay(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	l.mu.Lock()
	backend, ok := l.backends[c.ConnectionState().ServerName]
	l.mu.Unlock()
	if !ok {
		return // no route: the connection closes, Envoy reports a reset
	}
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(b, c)
		b.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, b)
	c.CloseWrite()
	<-done
}

// Issue returns a certificate for names signed by the lab CA.
func (l *Lab) Issue(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(mrand.Int64()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, l.ca, &key.PublicKey, l.caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// CertPool trusts the lab CA, for Go clients of the TLS front.
func (l *Lab) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(l.ca)
	return p
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ai-proxy-wasm test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}
