// A Go backend and Herald, with the standard library only: mint a token, publish, read presence.
//
//	JWT_SECRET=... HERALD_URL=http://localhost:3000 go run . [room] [user]
//
// With github.com/golang-jwt/jwt/v5, jwt.NewWithClaims(jwt.SigningMethodHS256, claims) mints the same token.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func mintToken(secret, sub, scope string, ttl time.Duration) string {
	encode := func(value any) string {
		data, _ := json.Marshal(value) // maps of strings and numbers always marshal
		return base64.RawURLEncoding.EncodeToString(data)
	}
	now := time.Now().Unix()
	unsigned := encode(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." +
		encode(map[string]any{"sub": sub, "scope": scope, "iat": now, "exp": now + int64(ttl.Seconds())})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func call(method, path, token string, body any) ([]byte, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(data)
	}
	base := os.Getenv("HERALD_URL")
	if base == "" {
		// Publish and presence are on the internal port when Herald has one (INTERNAL_PORT), else on PORT.
		port := os.Getenv("INTERNAL_PORT")
		if port == "" {
			port = os.Getenv("PORT")
		}
		if port == "" {
			port = "3000"
		}
		base = "http://localhost:" + port
	}
	request, err := http.NewRequest(method, base+path, reader)
	if err != nil {
		return nil, err
	}
	request.Header.Set("authorization", "Bearer "+token)
	request.Header.Set("content-type", "application/json")
	client := http.Client{Timeout: 10 * time.Second}
	response, err := client.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, err
	}
	if response.StatusCode >= 300 {
		// Herald's 4xx bodies name what is wrong: {"statusCode":400,"message":[...]}.
		return nil, fmt.Errorf("%s %s answered %d: %s", method, path, response.StatusCode, answer)
	}
	return answer, nil
}

// randomHex is n random bytes as hex.
func randomHex(n int) string {
	bytes := make([]byte, n)
	if _, err := rand.Read(bytes); err != nil {
		panic(err)
	}
	return hex.EncodeToString(bytes)
}

func main() {
	room, user := "chat:42", "alice"
	if len(os.Args) > 1 {
		room = os.Args[1]
	}
	if len(os.Args) > 2 {
		user = os.Args[2]
	}
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		fmt.Fprintln(os.Stderr, "set JWT_SECRET to the HS256 secret Herald verifies with")
		os.Exit(1)
	}
	token := mintToken(secret, "billing", "notifications:publish presence:read", 5*time.Minute)
	// The id makes a retry safe: on a 503 or no answer, send the same body with the same id
	// again, and it is delivered once. Keep it with the event it announces (here a random one).
	published, err := call("POST", "/v1/notifications", token, map[string]any{
		"id":      "invoice-paid-" + randomHex(8),
		"rooms":   []string{room},
		"users":   []string{user},
		"type":    "invoice.paid",
		"payload": map[string]string{"title": "Invoice paid", "body": "From Go"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(published))
	presence, err := call("GET", "/v1/rooms/"+url.PathEscape(room)+"/presence", token, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(presence))
}
