package wechatauth

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// allow_departments names departments; a department includes all its
// sub-departments, so a member of 后端组 under 研发部 is "in" 研发部.
// WeCom's user/get gives a member's own departments only, so the tree
// (department/simplelist) is fetched once and kept for departments_ttl,
// shared by all sign-ins of the site, and fetched by one of them at a time.

// wecomDepartmentsRefetch spaces fetches forced by a department the kept
// tree does not know (one created since) or by a failed fetch, so a member
// of a department outside the app's visible range cannot make every
// sign-in call WeCom.
const wecomDepartmentsRefetch = 30 * time.Second

// wecomDepartments keeps the corp's department tree.
type wecomDepartments struct {
	fetch func(ctx context.Context) ([]wechat.WeComDepartment, error)
	ttl   time.Duration
	now   func() time.Time

	mu       sync.Mutex
	tree     []wechat.WeComDepartment
	known    map[int64]bool
	fetched  time.Time     // when tree was fetched; zero before the first fetch
	until    time.Time     // tree is used without asking until then
	inflight chan struct{} // closed when the fetch under way ends; nil when none is
}

func newWeComDepartments(api *wechat.WeComClient, ttl time.Duration, now func() time.Time) *wecomDepartments {
	return &wecomDepartments{ttl: ttl, now: now,
		fetch: func(ctx context.Context) ([]wechat.WeComDepartment, error) { return api.Departments(ctx, 0) }}
}

// within reports whether one of member's departments is one of allowed or
// below one. A direct match needs no tree; otherwise the kept tree
// decides, fetched again first when it has expired, or when it does not
// know one of member's departments and was fetched over 30s ago.
func (d *wecomDepartments) within(ctx context.Context, member, allowed []int64) (bool, error) {
	for _, m := range member {
		if slices.Contains(allowed, m) {
			return true, nil
		}
	}
	tree, known, err := d.get(ctx, nil)
	if err != nil {
		return false, err
	}
	if wechat.WithinDepartments(member, allowed, tree) {
		return true, nil
	}
	if !slices.ContainsFunc(member, func(m int64) bool { return !known[m] }) {
		return false, nil
	}
	tree, _, err = d.get(ctx, member)
	if err != nil {
		return false, err
	}
	return wechat.WithinDepartments(member, allowed, tree), nil
}

// get returns the tree, fetching it when it has expired or, with unknown
// set, when the tree knows none of unknown's missing ids and is over 30s
// old. Concurrent callers share one fetch; a failed fetch keeps the old
// tree (if any) for another 30s.
func (d *wecomDepartments) get(ctx context.Context, unknown []int64) ([]wechat.WeComDepartment, map[int64]bool, error) {
	d.mu.Lock()
	for {
		now := d.now()
		stale := d.tree == nil || !now.Before(d.until)
		if !stale && unknown != nil && now.Sub(d.fetched) >= wecomDepartmentsRefetch &&
			slices.ContainsFunc(unknown, func(m int64) bool { return !d.known[m] }) {
			stale = true
		}
		if !stale {
			tree, known := d.tree, d.known
			d.mu.Unlock()
			return tree, known, nil
		}
		if d.inflight == nil {
			break
		}
		ch := d.inflight
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		d.mu.Lock()
		if d.tree == nil { // the fetch we waited for failed: ours would too
			d.mu.Unlock()
			return nil, nil, d.fetchNow(ctx)
		}
		unknown = nil // a fetch just ended: what it knows is what WeCom knows
	}
	d.inflight = make(chan struct{})
	d.mu.Unlock()
	err := d.fetchNow(ctx)
	d.mu.Lock()
	tree, known := d.tree, d.known
	close(d.inflight)
	d.inflight = nil
	d.mu.Unlock()
	if tree == nil {
		return nil, nil, err
	}
	return tree, known, nil
}

// fetchNow asks WeCom for the tree and keeps it; on failure it keeps the old
// tree for another 30s. The fetch is detached from the caller's
// cancellation, since other sign-ins may be waiting for it.
func (d *wecomDepartments) fetchNow(ctx context.Context) error {
	tree, err := d.fetch(context.WithoutCancel(ctx))
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if d.tree != nil {
			d.until = now.Add(wecomDepartmentsRefetch)
		}
		return err
	}
	known := make(map[int64]bool, len(tree))
	for _, t := range tree {
		known[t.ID] = true
	}
	d.tree, d.known, d.fetched, d.until = tree, known, now, now.Add(d.ttl)
	return nil
}
