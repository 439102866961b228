// compose-check loads a Compose file with compose-go, the loader Docker Compose itself uses,
// and prints the normalised project as JSON: interpolation, profiles, defaults, and the
// consistency checks (services, networks and volumes referred to must exist) all run as they
// would in `docker compose config`. No Docker engine is needed.
//
// Usage: compose-check -f docker-compose.yaml -env-file FILE [-profile NAME]...
//
// Only the env file's variables are visible to the file (not this process's environment), so
// a test decides exactly what `.env` holds. Profiles: the -profile flags, else COMPOSE_PROFILES
// from the env file, as `docker compose` does. A failure prints one line on stderr, exit code 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type profiles []string

func (p *profiles) String() string     { return strings.Join(*p, ",") }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	file := flag.String("f", "docker-compose.yaml", "the Compose file")
	envFile := flag.String("env-file", "", "a .env-like file: the only variables the file sees")
	var active profiles
	flag.Var(&active, "profile", "a profile to activate (repeatable)")
	flag.Parse()

	if err := run(*file, *envFile, active); err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		os.Exit(1)
	}
}

func run(file, envFile string, active []string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(filepath.Dir(abs))}
	if envFile != "" {
		opts = append(opts, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	opts = append(opts,
		// As `docker compose`: --profile flags, else COMPOSE_PROFILES from the env file.
		cli.WithDefaultProfiles(active...),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	options, err := cli.NewProjectOptions([]string{abs}, opts...)
	if err != nil {
		return err
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}
