// Package e2e holds the end-to-end tests of `holdfast serve`: they build
// the real binary, start it on free loopback ports (port 0; the addresses
// are read from its "serving" log line), and drive it with the real
// redis-cli, with go-redis, over HTTP and with the holdfast CLI itself —
// including malformed and oversize input, authentication, TLS, connection
// limits, and SIGTERM under write load followed by a check of every
// acknowledged write after a restart. It has no non-test code.
package e2e
