package main

import (
	"github.com/palantir-lab/palantir/internal/suggest"

	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/internal/config"
)

func newRootCmd(a *app) *cobra.Command {
	io := a.streams
	var configFile, jsonFields, tmpl string
	root := &cobra.Command{
		Use:   "palantir",
		Short: "Run background missions through a real broker and real workers",
		Long: `palantir launches "missions" onto a message queue and executes them in real
worker processes, so you can watch how task queues behave: delivery,
retries, dead letters, crashes and redelivery. The same mission code runs on
an in-process queue (the default, nothing to install), Redis Streams,
RabbitMQ, NATS JetStream, or a table in PostgreSQL or in the SQLite file
itself; results, scores and telemetry go to a SQLite file or PostgreSQL.

Settings come from flags, then PALANTIR_* environment variables (for
example PALANTIR_BACKEND=redis), then a YAML file (--config, $PALANTIR_CONFIG
or ./palantir.yaml; see config.example.yaml), then defaults.`,
		Example: `  palantir launch fellowship --wait        # five missions, two embedded workers
  palantir history                          # what happened
  palantir trace bhqj                       # one mission, stage by stage (an id or a prefix)
  palantir worker --backend redis --name eagle1   # a real worker process`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cmd.Flags(), configFile, urlDefaults(a.registry))
			if err == nil && cmd.Flags().Changed("template") {
				if a.template, err = parseTemplate(tmpl); err == nil && !cmd.Flags().Changed("json") {
					cfg.Output, err = jsonOutput(cfg.Output, cfg.Source("output") != "the default", templateOnly, nil)
				}
			}
			if err == nil && cmd.Flags().Changed("json") {
				cfg.Output, err = jsonOutput(cfg.Output, cfg.Source("output") != "the default", jsonFields, &a.jsonFields)
			}
			if err == nil {
				err = checkOutputFormat(cmd, cfg.Output)
			}
			if err == nil {
				err = a.configure(cfg, cmd.Name())
			}
			if err != nil && cmd.Name() == "doctor" {
				// doctor's first check is the configuration itself.
				fmt.Fprintf(io.Out, "FAIL config   %s\n              fix: correct the value named above (see config.example.yaml)\n", backends.RedactText(err.Error()))
			}
			return err
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) { a.Close() },
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see '%s --help')", err, c.CommandPath())
	})

	pf := root.PersistentFlags()
	pf.StringVar(&configFile, "config", "", "YAML config file (default $PALANTIR_CONFIG or ./palantir.yaml if present)")
	pf.String("backend", config.Defaults["backend"].(string), backendHelp(a.registry))
	for _, s := range a.registry.Settings() {
		pf.String(s.Flag(), s.Default, s.Help)
	}
	pf.String("queue", config.Defaults["queue"].(string), "work queue name (broker names derive from it); a worker takes several, in priority order (a,b) or weighted (a=3,b=1)")
	pf.String("store", config.Defaults["store"].(string), "SQLite file, or a postgres:// URL")
	pf.StringP("output", "o", config.Defaults["output"].(string), "output format: table or json (json: stdout holds one JSON document); bench also takes markdown")
	pf.StringVar(&jsonFields, "json", "", "print JSON with only these `FIELDS` of each object (e.g. id,status); implies -o json")
	pf.StringVar(&tmpl, "template", "", templateHelp)
	pf.String("log-level", config.Defaults["log_level"].(string), "log level on stderr: debug, info, warn, error")
	pf.Duration("lease", 30e9, "visibility timeout: an unsettled mission of a silent worker is redelivered after this")
	pf.Duration("shutdown-timeout", 30e9, "on SIGINT/SIGTERM, how long in-flight missions may finish before they are returned")
	pf.String("max-message-size", config.Defaults["max_message_size"].(string), "largest message body: bigger ones are refused at launch (exit 2) and dead-lettered unread by workers (e.g. 256KiB, 1MiB)")
	pf.Int("max-deliveries", config.Defaults["max_deliveries"].(int), "deliveries of one message without an outcome (its workers died) before it is dead-lettered")

	root.AddCommand(
		newLaunchCmd(a, nil),
		newWorkerCmd(a, nil),
		newStatusCmd(a, nil),
		newHistoryCmd(a, nil),
		newEventsCmd(a, nil),
		newTraceCmd(a, nil),
		newCancelCmd(a, nil),
		newQueueCmd(a),
		newLeaderboardCmd(a, nil),
		newDLQCmd(a),
		newPurgeCmd(a, nil),
		newDoctorCmd(a, nil),
		newBenchCmd(a, nil),
		newVerifyCmd(a, nil),
		newServeCmd(a, nil),
		newChaosCmd(a),
		newVersionCmd(a),
		newGenDocsCmd(a, nil),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			rejectUnknownSubcommands(c)
		}
	}
	addVersionFlag(root)
	addCompletions(root, a, &configFile)
	return root
}

// rejectUnknownSubcommands makes `palantir dlq bogus` a usage error (exit
// 2) instead of cobra's help with exit 0; the bare group still shows help.
func rejectUnknownSubcommands(group *cobra.Command) {
	group.Args = cobra.ArbitraryArgs
	group.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownCommand(args[0], cmd)
	}
}

// unknownCommand is the usage error for name, which parent does not
// have: the nearest commands if any is near, else all of them.
func unknownCommand(name string, parent *cobra.Command) error {
	var known []string
	for _, c := range parent.Commands() {
		if c.IsAvailableCommand() {
			known = append(known, c.Name())
		}
	}
	if hint := suggest.Hint(name, known); hint != "" {
		return usageErr("unknown command %q for %q%s", name, parent.CommandPath(), hint)
	}
	return usageErr("unknown command %q for %q (known: %s)", name, parent.CommandPath(), strings.Join(known, ", "))
}

// exactArgs, minArgs and noArgs are cobra validators whose errors are usage
// errors (exit 2).
func argsUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErr("%s: %v (see '%s --help')", cmd.Name(), err, cmd.CommandPath())
		}
		return nil
	}
}

// urlDefaults are the backends' URL settings for config.Load.
func urlDefaults(reg *backends.Registry) map[string]string {
	d := map[string]string{}
	for _, s := range reg.Settings() {
		d[s.Key] = s.Default
	}
	return d
}

// backendHelp is --backend's help: the registered names and schemes.
func backendHelp(reg *backends.Registry) string {
	var schemes []string
	for _, b := range reg.Backends() {
		for _, s := range b.Schemes {
			schemes = append(schemes, s+"://")
		}
	}
	return fmt.Sprintf("queue backend: %s, or a URL whose scheme picks one (%s)", strings.Join(reg.Names(), ", "), strings.Join(schemes, ", "))
}
