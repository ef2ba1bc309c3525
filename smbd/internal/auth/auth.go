package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/md4" //nolint:staticcheck // MD4 is what the NT hash is defined with ([MS-NLMP] §3.3.1).
)

// User is one entry of the user database.
type User struct {
	Name     string
	NTHash   [16]byte
	Disabled bool
}

// ErrNoSuchUser is returned by a UserDB for unknown names.
var ErrNoSuchUser = errors.New("auth: no such user")

// UserDB looks up users by name, case-insensitively as Windows does.
type UserDB interface {
	LookupUser(ctx context.Context, name string) (User, error)
}

// NTHash computes the NT one-way function of a password: MD4 over its
// UTF-16LE encoding.
func NTHash(password string) [16]byte {
	h := md4.New()
	h.Write(utf16le(password))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// MemoryUsers is a UserDB held in memory, for tests and development.
type MemoryUsers struct {
	mu    sync.RWMutex
	users map[string]User
}

// NewMemoryUsers returns an empty in-memory user database.
func NewMemoryUsers() *MemoryUsers { return &MemoryUsers{users: map[string]User{}} }

// Add stores a user with a clear-text password.
func (m *MemoryUsers) Add(name, password string) {
	m.Put(User{Name: name, NTHash: NTHash(password)})
}

// Put stores u, replacing a user of the same name.
func (m *MemoryUsers) Put(u User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[foldName(u.Name)] = u
}

// LookupUser implements UserDB.
func (m *MemoryUsers) LookupUser(_ context.Context, name string) (User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.users[foldName(name)]
	if !ok {
		return User{}, fmt.Errorf("%w: %q", ErrNoSuchUser, name)
	}
	return u, nil
}

func foldName(s string) string { return string(bytes.ToLower([]byte(s))) }

// Config configures an authenticator.
type Config struct {
	Users       UserDB
	NetbiosName string // server name, e.g. GCTDB
	Domain      string // NetBIOS domain or workgroup
	DNSName     string
	DNSDomain   string
	Now         func() time.Time
	Rand        io.Reader
}

// Result is the outcome of a completed authentication.
type Result struct {
	User       string
	Domain     string
	Anonymous  bool
	Guest      bool
	SessionKey []byte // ExportedSessionKey, 16 bytes; nil for anonymous
}

// Exchange is one SPNEGO/NTLMSSP authentication in progress, the
// server-side state of a SESSION_SETUP sequence.
type Exchange struct {
	cfg       *Config
	ntlm      *ntlmServer
	spnego    bool
	mechTypes []byte
	result    *Result
}

// NewExchange starts an authentication.
func NewExchange(cfg *Config) *Exchange {
	return &Exchange{cfg: cfg, ntlm: &ntlmServer{cfg: cfg}}
}

// Step consumes one client token and returns the server's reply. done is
// true when authentication succeeded; Result is then valid. Errors are
// ErrLogonFailure, ErrAccountDisabled, ErrInvalidParameter or malformed
// input errors.
func (e *Exchange) Step(ctx context.Context, token []byte) (out []byte, done bool, err error) {
	switch {
	case e.ntlm.challenge == nil:
		return e.first(token)
	default:
		return e.second(ctx, token)
	}
}

func (e *Exchange) first(token []byte) ([]byte, bool, error) {
	if bytes.HasPrefix(token, []byte(ntlmSignature)) {
		// Raw NTLMSSP without SPNEGO.
		out, err := e.ntlm.handleNegotiate(token)
		return out, false, err
	}
	init, err := parseNegTokenInit(token)
	if err != nil {
		return nil, false, err
	}
	found := false
	for _, m := range init.mechs {
		if m.Equal(oidNTLMSSP) {
			found = true
		}
	}
	if !found {
		return nil, false, ErrNoMech
	}
	e.spnego = true
	e.mechTypes = append([]byte(nil), init.mechTypesDER...)
	if len(init.mechToken) == 0 || !init.mechs[0].Equal(oidNTLMSSP) {
		// Optimistic token for another mechanism or none: ask for NTLMSSP.
		return buildNegTokenResp(negAcceptIncomplete, oidNTLMSSP, nil, nil), false, nil
	}
	chal, err := e.ntlm.handleNegotiate(init.mechToken)
	if err != nil {
		return nil, false, err
	}
	return buildNegTokenResp(negAcceptIncomplete, oidNTLMSSP, chal, nil), false, nil
}

func (e *Exchange) second(ctx context.Context, token []byte) ([]byte, bool, error) {
	if !e.spnego {
		if err := e.ntlm.handleAuthenticate(ctx, token); err != nil {
			return nil, false, err
		}
		e.result = e.ntlm.result
		return nil, true, nil
	}
	resp, err := parseNegTokenResp(token)
	if err != nil {
		return nil, false, err
	}
	if e.ntlm.challenge == nil {
		chal, err := e.ntlm.handleNegotiate(resp.token)
		if err != nil {
			return nil, false, err
		}
		return buildNegTokenResp(negAcceptIncomplete, nil, chal, nil), false, nil
	}
	if err := e.ntlm.handleAuthenticate(ctx, resp.token); err != nil {
		return nil, false, err
	}
	e.result = e.ntlm.result
	var mic []byte
	if e.result.SessionKey != nil && (resp.mechListMIC != nil || e.ntlm.hadMIC) {
		keyExch := e.ntlm.flags&flagKeyExch != 0
		if resp.mechListMIC != nil {
			ck, err := newSealKeys(e.ntlm.exported, magicClientSign, magicClientSeal, keyExch)
			if err != nil {
				return nil, false, err
			}
			want := ck.sign(e.mechTypes)
			if subtle.ConstantTimeCompare(want, resp.mechListMIC) != 1 {
				return nil, false, ErrLogonFailure
			}
		}
		sk, err := newSealKeys(e.ntlm.exported, magicServerSign, magicServerSeal, keyExch)
		if err != nil {
			return nil, false, err
		}
		mic = sk.sign(e.mechTypes)
	}
	return buildNegTokenResp(negAcceptCompleted, nil, nil, mic), true, nil
}

// Result returns the outcome after Step reported done.
func (e *Exchange) Result() *Result { return e.result }

// FileTime converts t to a Windows FILETIME (100 ns since 1601).
func FileTime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100 + 116444736000000000)
}
