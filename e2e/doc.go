// Package e2e runs the examples in examples/ for real: the custom Caddy binary
// as a process, Debian's php-fpm and nginx, and the WeChat simulator
// (wechat/wechattest) in-process. It has only tests; see main_test.go.
//
// A tool that is missing skips its test with the Debian package to install
// (scripts/install-test-deps.sh installs them all), except when CI=true: then
// the test fails, so CI never passes by skipping.
package e2e
