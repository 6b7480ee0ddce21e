package wechatauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

	// UncheckedSessions says what a replica does, until it has loaded the
	// store's revocations once, with a session cookie issued before it
	// started: "refuse" (the default) sends the visitor through sign-in
	// again (silent with snsapi_base), since the session may have been
	// revoked; "admit" accepts it unchecked, the risk being that a revoked
	// session passes while the store is unreachable at start. A reachable
	// store is always loaded before the replica serves.
	UncheckedSessions string `json:"unchecked_sessions,omitempty"`

	// Component is the third-party platform (第三方平台) this Caddy serves
	// Official Accounts through, if any: its AppID, AppSecret, message
	// Token and EncodingAESKey (docs/third-party.md). Its pushes arrive at
	// a wechat_component_events route; its ticket, token and authorizers
	// live in the store.
	Component *ComponentConfig `json:"component,omitempty"`

	component   *component // the provisioned Component
	store       Store
	redis       *redisStore // store, when it is Redis
	revocations *revocationSet
	logger      *zap.Logger
	clients     *sharedClients
	ctx         caddy.Context // for the start-up route check (routecheck.go)
	shared      *sharedStore
	poolKey     string
	// replica, when set, keeps this app's store apart from another app's
	// on the same URL in the same process: tests run several "replicas"
	// in one process. Empty in Caddy, where one process is one replica.
	replica string
}

// sessionTTLs is the longest session_ttl of each app_id, announced to the
// store so `caddy wechat-session revoke` keeps an openid's revocation as
// long as its sessions can live.
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

// Provision expands the store URL and takes the process's store for it
// (shared with the config being replaced, on a reload). On a replica's
// first start it waits until a reachable store's revocations are loaded,
// so no port opens before them.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger, a.ctx = ctx.Logger(), ctx
	a.clients = &sharedClients{m: make(map[string]*sharedClient)}
	if a.KeyPrefix == "" {
		a.KeyPrefix = defaultKeyPrefix
	}
	if strings.ContainsAny(a.KeyPrefix, " \t\r\n{}") {
		return fmt.Errorf("wechat key_prefix %q must not hold spaces or braces: use e.g. wechat_auth:", a.KeyPrefix)
	}
	if err := validUncheckedSessions(a.UncheckedSessions); err != nil {
		return err
	}
	// Before the store is taken: a refused platform setting leaves no
	// reference to release.
	if err := a.provisionComponent(); err != nil {
		return err
	}
	storeURL, err := expand(caddy.NewReplacer(), "wechat store", a.Store)
	if err != nil {
		return err
	}
	sh, key, err := a.sharedStoreFor(storeURL)
	if err != nil {
		return err
	}
	a.shared, a.poolKey = sh, key
	sh.revocations.admit.Store(a.UncheckedSessions == uncheckedAdmit)
	a.store, a.redis, a.revocations = sh.store, sh.redis, sh.revocations
	if a.component != nil {
		a.component.store = a.store
	}
	return nil
}

// announceSessionTTL records a handler's session_ttl for its app_id.
func (a *App) announceSessionTTL(appID string, ttl time.Duration) {
	a.shared.announceSessionTTL(appID, ttl)
}

// Start logs the routes that bypass the handler; the store connected
// when it was first provisioned.
func (a *App) Start() error {
	logRouteBypasses(a.ctx, a.logger)
	return nil
}

// Stop does nothing: the store outlives a config reload (Cleanup).
func (a *App) Stop() error { return nil }

// Cleanup releases this config's reference to the store; the last one
// closes it.
func (a *App) Cleanup() error {
	if a.poolKey == "" {
		return nil
	}
	_, err := storePool.Delete(a.poolKey)
	a.poolKey = ""
	return err
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

// unconfiguredApps numbers the apps appOnDemand makes.
var unconfiguredApps atomic.Uint64

// appOnDemand has Caddy instantiate the unconfigured app. A context that
// carries no config at all (caddy.NewContext in unit tests and benchmarks)
// makes ctx.App panic; such a context gets an app of its own, in memory.
func appOnDemand(ctx caddy.Context) (app any, err error) {
	defer func() {
		if recover() != nil {
			// A number, not the context's address: a freed context's
			// address comes back, and its app's revocations (never
			// cleaned up: nothing calls Cleanup on this app) with it.
			a := &App{replica: fmt.Sprintf("unconfigured %d", unconfiguredApps.Add(1))}
			app, err = a, a.Provision(ctx)
		}
	}()
	return ctx.App("wechat")
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
