package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// HeaderIdempotencyKey is the request header that makes a POST safe to
// repeat; HeaderReplayed marks an answer that repeats the original one.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
)

// MaxIdempotencyKeyLength is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLength = 255

const (
	// idemPrefix starts the Redis key of every idempotency record.
	idemPrefix = "tuskq:api:idempotency:"
	// idemLease is how long a record of a request in progress lives: if
	// the server dies before the answer is stored, the key is free again
	// after this.
	idemLease = 30 * time.Second
)

// finishScript stores the answer in the record, but only while the record
// is still the one this request created (ARGV[1]).
var finishScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
  return 1
end
return 0`)

// abandonScript deletes the record, but only while it is still the one
// this request created.
var abandonScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// idemRecord is the value stored under an idempotency key.
type idemRecord struct {
	// Fingerprint identifies the request (endpoint and decoded content).
	Fingerprint string `json:"fp"`
	// Owner is a nonce of the request in progress; empty once done.
	Owner string `json:"owner,omitempty"`
	// Done is set once the answer is stored.
	Done bool `json:"done"`
	// Status and Body are the original answer; Body is JSON.
	Status int             `json:"status,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// answer returns the stored answer's body as it was sent: with its final
// newline, which storing it as JSON removes.
func (r *idemRecord) answer() []byte {
	return append(bytes.TrimSpace(r.Body), '\n')
}

// idemStore keeps idempotency records in Redis.
type idemStore struct {
	rdb  redis.UniversalClient
	ttl  time.Duration
	wait time.Duration
}

// idemClaim is the outcome of begin: either this request owns the key
// (record is what it stored) or the original answer is to be replayed.
type idemClaim struct {
	key    string // Redis key
	taskID string // the deterministic task ID base of this key
	record string // the JSON stored while in progress
	replay *idemRecord
}

// checkIdempotencyKey validates the header value.
func checkIdempotencyKey(key string) *Problem {
	bad := func(detail string) *Problem {
		return invalid(FieldError{Field: HeaderIdempotencyKey, Detail: detail})
	}
	switch {
	case key == "":
		return bad("empty; send a unique value such as a UUID, or leave the header out")
	case len(key) > MaxIdempotencyKeyLength:
		return bad(fmt.Sprintf("%d characters long; the limit is %d", len(key), MaxIdempotencyKeyLength))
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return bad("has a character that is not printable ASCII; use for example a UUID")
		}
	}
	return nil
}

// begin claims key for the request with fingerprint fp sent by the token
// named owner. When another request holds the key, it waits for that
// request's answer (up to s.wait), and replays it. A fingerprint that
// differs is a 422 problem; a wait that runs out is a 409 problem. err
// means Redis failed.
func (s *idemStore) begin(ctx context.Context, owner, key, fp string) (*idemClaim, *Problem, error) {
	sum := sha256.Sum256([]byte(owner + "\x00" + key))
	digest := hex.EncodeToString(sum[:])
	c := &idemClaim{key: idemPrefix + digest, taskID: "idem-" + digest[:32]}
	deadline := time.Now().Add(s.wait)
	delay := 2 * time.Millisecond
	for {
		nonce := make([]byte, 12)
		_, _ = rand.Read(nonce)
		rec, _ := json.Marshal(idemRecord{Fingerprint: fp, Owner: hex.EncodeToString(nonce)})
		ok, err := s.rdb.SetNX(ctx, c.key, rec, idemLease).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		if ok {
			c.record = string(rec)
			return c, nil, nil
		}
		raw, err := s.rdb.Get(ctx, c.key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			continue // released or expired meanwhile: claim again
		case err != nil:
			return nil, nil, fmt.Errorf("read idempotency key: %w", err)
		}
		var got idemRecord
		if err := json.Unmarshal(raw, &got); err != nil {
			return nil, nil, fmt.Errorf("idempotency record %s: %w", c.key, err)
		}
		if got.Fingerprint != fp {
			return nil, newProblem(ProblemIdempotencyReuse, http.StatusUnprocessableEntity,
				"this Idempotency-Key was used for a different request within its window; use a new key for a new request",
				FieldError{Field: HeaderIdempotencyKey, Detail: "already used for a request with other content"}), nil
		}
		if got.Done {
			c.replay = &got
			return c, nil, nil
		}
		if time.Now().After(deadline) {
			return nil, newProblem(ProblemIdempotencyBusy, http.StatusConflict,
				"a request with this Idempotency-Key is still being processed; retry in a moment to get its answer"), nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// finish stores the answer of the request that owns c for the key's
// window.
func (s *idemStore) finish(ctx context.Context, c *idemClaim, fp string, status int, body []byte) error {
	rec, err := json.Marshal(idemRecord{Fingerprint: fp, Done: true, Status: status, Body: body})
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	ttl := strconv.FormatInt(s.ttl.Milliseconds(), 10)
	if err := finishScript.Run(ctx, s.rdb, []string{c.key}, c.record, rec, ttl).Err(); err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// abandon frees the key after a request that stored nothing worth
// replaying (a Redis failure, a duplicate task), so a retry runs afresh.
func (s *idemStore) abandon(ctx context.Context, c *idemClaim) error {
	if err := abandonScript.Run(ctx, s.rdb, []string{c.key}, c.record).Err(); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
