// Command minidyn serves minidyn (github.com/truora/minidyn), an in-memory DynamoDB, over
// DynamoDB's JSON API on a local address, for Ferry's tests and local stack. The handler in
// proxy.go sits in front of minidyn's server package and makes it answer like DynamoDB where
// Ferry would otherwise see a difference (see scripts/README.md).
//
//	minidyn [-addr 127.0.0.1:4567] [-access-log] [-raw]
//
// FERRY_MINIDYN_ADDR and FERRY_MINIDYN_ACCESS_LOG=1 set the same. All state is in memory and
// lost when the process ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	miniserver "github.com/truora/minidyn/server"
)

const defaultAddr = "127.0.0.1:4567"

func main() {
	addr := flag.String("addr", envOr("FERRY_MINIDYN_ADDR", defaultAddr), "listen address (host:port)")
	accessLog := flag.Bool("access-log", os.Getenv("FERRY_MINIDYN_ACCESS_LOG") == "1", "log every request (operation, status, duration)")
	version := flag.Bool("version", false, "print the minidyn module version and exit")
	raw := flag.Bool("raw", false, "serve minidyn's handler alone, without the corrections in proxy.go (to compare)")
	flag.Parse()

	if *version {
		fmt.Println(minidynVersion())
		return
	}

	logger := log.New(os.Stderr, "minidyn ", log.LstdFlags|log.Lmicroseconds)
	proxy := newProxy(miniserver.NewServer())
	if *accessLog {
		proxy.accessLog = logger
	}
	var handler http.Handler = proxy
	if *raw {
		handler = miniserver.NewServer()
		logger.Printf("-raw: no corrections, requests are not serialised")
	}

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Fatalf("listen on %s: %v", *addr, err)
	}
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	logger.Printf("github.com/truora/minidyn %s listening on http://%s", minidynVersion(), listener.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Fatalf("serve: %v", err)
	}
	logger.Printf("stopped")
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func minidynVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/truora/minidyn" {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}
