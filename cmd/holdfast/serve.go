package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/internal/server"
)

func init() { addCommand(newServeCmd) }

// newServeCmd runs the server. Every setting is a flag, a HOLDFAST_*
// environment variable and a config-file key (internal/server.Settings);
// a flag wins over the environment, which wins over the file.
func newServeCmd() *cobra.Command {
	values := make(map[string]*string)
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the holdfast server (HTTP/JSON API and the Redis protocol)",
		Long: `Run the holdfast server. With no arguments: data in ./holdfast-data, HTTP on
127.0.0.1:7070, the Redis protocol on 127.0.0.1:6380, and a dataspace
"default" created on first start.

Each setting is a flag (--name), an environment variable (HOLDFAST_NAME, with
'-' as '_') and a key of the optional config file (name = value per line,
'#' comments); the flag wins over the environment variable, which wins over
the file. --config (or HOLDFAST_CONFIG) names the file. See docs/server.md.

SIGTERM or SIGINT: stop accepting, let requests in flight finish within
--shutdown-grace, close the database (final sync), exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			given := make(map[string]string)
			for name, v := range values {
				if cmd.Flags().Changed(name) {
					given[name] = *v
				}
			}
			cfg, warnings, err := server.Load(given, os.Environ(), configFile)
			if err != nil {
				return usageErrorf("%v", err)
			}
			for _, w := range warnings {
				cmd.PrintErrln("holdfast serve: warning:", w)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return server.Run(ctx, cfg, server.Hooks{LogOutput: cmd.ErrOrStderr(), Version: Version})
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file (name = value lines); default $"+server.ConfigEnv)
	for _, s := range server.Settings() {
		values[s.Name] = cmd.Flags().String(s.Name, s.Default(), s.Usage+" ($"+s.Env()+")")
	}
	return cmd
}
