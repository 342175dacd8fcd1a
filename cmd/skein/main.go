// Command skein is the Skein event streaming platform in one binary: the
// broker and the client tools that work against any Kafka-compatible cluster.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

// run executes the skein command line with args, reading from stdin and
// writing to stdout and stderr. It reports a failure on stderr before
// returning it, so callers only decide the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "skein: %v\n", err)
		return err
	}
	return nil
}

// newRootCmd builds the skein command tree. Each subcommand group lives in
// its own file.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "skein",
		Short: "Skein: a Kafka-compatible event streaming platform",
		Long: "Skein is a Kafka-compatible event streaming platform. The client commands\n" +
			"(topic, produce, consume, bench) work against any Kafka-compatible broker\n" +
			"given by --bootstrap or SKEIN_BOOTSTRAP (default " + defaultBootstrap + "); the\n" +
			"connection's TLS and SASL settings come from a Java client properties file,\n" +
			"--command-config or " + commandConfigEnv + ".",
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: loadCommandConfig,
	}
	root.AddCommand(
		newVersionCmd(),
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newBenchCmd(),
		newServeCmd(),
		newStorageCmd(),
		newTxnCmd(),
		newRegistryCmd(),
		newSchemaCmd(),
		newGroupCmd(),
		newACLCmd(),
		newQuotaCmd(),
		newClusterCmd(),
		newDevCmd(),
	)
	return root
}
