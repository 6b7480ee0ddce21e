package wechatauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the process-wide wechat app: what every wechat_auth handler of a
// config shares, however many directives and sites use it. It owns the
// store (revocations, callback claims, coordinated token refreshes), one
// WeChat client per app_id (so two handlers of one Official Account share
// one basic-token cache) and this process's copy of the revocations.
//
// Configure it with the wechat global option:
//
//	{
//		wechat {
//			store redis://127.0.0.1:6379/0
//		}
//	}
//
// Without it every handler still works: the store is then in memory and
// holds for this process only, which is all a single instance needs.
type App struct {
	// Store is where replicas share state: a Redis or Valkey URL,
	// redis://[user:password@]host:6379/0 (rediss:// for TLS; valkey:// and
	// valkeys:// mean the same; unix:///path/redis.sock for a socket).
	// Sentinel: redis://sentinel:26379/0?master_name=mymaster&addr=sentinel2:26379.
	// Cluster: redis://node1:6379?addr=node2:6379&addr=node3:6379. The URL
	// may hold a password: write it as {env.WECHAT_STORE} or
	// {file./run/secrets/wechat_store}, expanded at provision time, so it
	// never appears in adapted JSON. Empty: in memory, this process only.
	Store string `json:"store,omitempty"`

	// KeyPrefix starts every key and the event channel this module uses in
	// the store (default "wechat_auth:"), so deployments sharing one Redis
	// database (staging and production, say) stay apart.
	KeyPrefix string `json:"key_prefix,omitempty"`

	store       Store
	redis       *redisStore // store, when it is Redis
	revocations *revocationSet
	logger      *zap.Logger
	clients     *sharedClients
	ttls        *sessionTTLs
	ctx         caddy.Context // for the start-up route check (routecheck.go)
}

// sessionTTLs is the longest session_ttl of each app_id in this config,
// announced to the store so `caddy wechat-session revoke` keeps an openid's
// revocation as long as its sessions can live.
type sessionTTLs struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

// sharedClients holds the WeChat client of each app_id.
type sharedClients struct {
	mu sync.Mutex
	m  map[string]*sharedClient
}

// sharedClient is the one WeChat client of an app_id and a fingerprint of
// the settings it was made with, to refuse a second handler that means a
// different account under the same app_id.
type sharedClient struct {
	client      *wechat.Client
	fingerprint [sha256.Size]byte
}

const defaultKeyPrefix = "wechat_auth:"

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechat",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision expands the store URL and builds the store; it connects only
// at Start, and a Redis that is down then does not stop Caddy.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger, a.ctx = ctx.Logger(), ctx
	a.revocations = newRevocationSet(nil)
	a.clients = &sharedClients{m: make(map[string]*sharedClient)}
	a.ttls = &sessionTTLs{m: make(map[string]time.Duration)}
	if a.KeyPrefix == "" {
		a.KeyPrefix = defaultKeyPrefix
	}
	if strings.ContainsAny(a.KeyPrefix, " \t\r\n{}") {
		return fmt.Errorf("wechat key_prefix %q must not hold spaces or braces: use e.g. wechat_auth:", a.KeyPrefix)
	}
	storeURL, err := expand(caddy.NewReplacer(), "wechat store", a.Store)
	if err != nil {
		return err
	}
	if storeURL == "" {
		a.logger.Info("no wechat store configured: revocations, callback claims and token refreshes hold in this process only; with several replicas, set store redis://… in the wechat global option")
		a.store = newMemoryStore(a.revocations, nil)
		return nil
	}
	a.redis, err = newRedisStore(storeURL, a.KeyPrefix, a.revocations, a.logger)
	if err != nil {
		return err
	}
	a.redis.onSync = a.writeSessionTTLs
	a.store = a.redis
	return nil
}

// announceSessionTTL records a handler's session_ttl for its app_id and,
// when the store is shared and up, writes it there.
func (a *App) announceSessionTTL(appID string, ttl time.Duration) {
	a.ttls.mu.Lock()
	a.ttls.m[appID] = max(a.ttls.m[appID], ttl)
	a.ttls.mu.Unlock()
	if a.redis != nil && a.redis.up() {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		a.writeSessionTTLs(ctx)
	}
}

// writeSessionTTLs raises each app_id's announced session_ttl in the store
// to this config's, never lowering what another gateway announced.
func (a *App) writeSessionTTLs(ctx context.Context) {
	a.ttls.mu.Lock()
	ttls := make(map[string]time.Duration, len(a.ttls.m))
	for k, v := range a.ttls.m {
		ttls[k] = v
	}
	a.ttls.mu.Unlock()
	for appID, ttl := range ttls {
		a.redis.raise(ctx, sessionTTLKey(appID), int64(ttl/time.Second))
	}
}

// Start connects to the store in the background.
func (a *App) Start() error {
	logRouteBypasses(a.ctx, a.logger)
	if a.redis != nil {
		a.redis.start()
	}
	return nil
}

// Stop closes the store's connections.
func (a *App) Stop() error {
	if a.store == nil {
		return nil
	}
	return a.store.Close()
}

// client returns the WeChat client of cfg.AppID, making it on first use.
// Handlers of one app_id must agree on the secret and API addresses: two
// different accounts under one app_id are a configuration mistake.
func (a *App) client(cfg wechat.Config) (*wechat.Client, error) {
	fp := sha256.Sum256([]byte(cfg.AppSecret + "\x00" + cfg.APIBase + "\x00" + cfg.OpenBase))
	a.clients.mu.Lock()
	defer a.clients.mu.Unlock()
	if sc, ok := a.clients.m[cfg.AppID]; ok {
		if sc.fingerprint != fp {
			return nil, fmt.Errorf("app_id %s is configured twice with a different app_secret, api_base or open_base: handlers of one Official Account must use the same ones", cfg.AppID)
		}
		return sc.client, nil
	}
	cfg.Shared = newSharedCredentials(a.store, cfg.AppID, cfg.AppSecret, a.logger)
	c, err := wechat.New(cfg)
	if err != nil {
		return nil, err
	}
	a.clients.m[cfg.AppID] = &sharedClient{client: c, fingerprint: fp}
	return c, nil
}

// revoke ends sessions everywhere the store reaches.
func (a *App) revoke(ctx context.Context, r Revocation) error {
	err := a.store.Revoke(ctx, r)
	if err == nil {
		procMetrics.revocation(revocationPublished)
	}
	return err
}

// appFrom returns the config's wechat app, provisioning it (in memory, when
// the global option is absent) on first use, so every handler of the
// config shares it.
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("wechat")
	if errors.Is(err, caddy.ErrNotConfigured) {
		v, err = appOnDemand(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("loading the wechat app: %v", err)
	}
	a, ok := v.(*App)
	if !ok {
		return nil, errors.New("the wechat app is not this module's: another plugin registered the same name")
	}
	return a, nil
}

// appOnDemand has Caddy instantiate the unconfigured app. A context that
// carries no config at all (caddy.NewContext in unit tests and benchmarks)
// makes ctx.App panic; such a context gets an app of its own, in memory.
func appOnDemand(ctx caddy.Context) (app any, err error) {
	defer func() {
		if recover() != nil {
			a := new(App)
			app, err = a, a.Provision(ctx)
		}
	}()
	return ctx.App("wechat")
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
