package cli

import (
	"fmt"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/spf13/cobra"
)

func newImportPM2Command() *cobra.Command {
	return &cobra.Command{
		Use:   "import-pm2 ECOSYSTEM_FILE",
		Short: "Convert a PM2 ecosystem file (ecosystem.config.js, or .json/.yml) to a clusterd config file on stdout",
		Long: `import-pm2 reads a PM2 ecosystem file (a .js file is evaluated with node, as
PM2 does) and prints the same apps as a clusterd YAML config file. Fields
clusterd has no use for (cron_restart, instance_var, ...) are left out, each
named in a comment at the top and on stderr. The result is checked as
"clusterd start" would read it. Values the JavaScript computed, process.env
included, are written as they are now: read the file before committing it.`,
		Example: `  clusterd import-pm2 ecosystem.config.js > apps.yml
  clusterd start apps.yml --env production`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, dropped, err := appconfig.ImportPM2(args[0], newLogger)
			if err != nil {
				return err
			}
			for _, d := range dropped {
				fmt.Fprintln(cmd.ErrOrStderr(), "clusterd: "+d)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}
