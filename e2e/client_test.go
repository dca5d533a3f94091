package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// outcome is what an HTTP client saw of one exchange.
type outcome struct {
	status int
	body   []byte
	err    error // the exchange broke: refused, reset, truncated body
	took   time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("status %d after %v, err %v, body %.300q", o.status, o.took, o.err, o.body)
}

// post sends a JSON body and reads the whole answer.
func post(url, body string) outcome {
	start := time.Now()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return outcome{status: resp.StatusCode, body: b, err: err, took: time.Since(start)}
}
