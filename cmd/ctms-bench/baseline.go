package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BENCH_BASELINE: the server of another commit, measured in the same run as the working
// tree's. Its source comes from `git archive` (no worktree to register or clean up in
// the repository), built with its own go.mod and go.sum.

// baselineBuild is the ctms binary of the baseline commit, in a temporary directory.
type baselineBuild struct {
	ref     string // as given
	commit  string // full hash
	subject string
	dir     string // temporary: src/ (the commit's tree) and ctms
	bin     string
}

// buildBaseline extracts ref's tree into a temporary directory and builds its cmd/ctms.
func buildBaseline(ctx context.Context, root, ref string) (*baselineBuild, error) {
	commit, err := gitOutput(ctx, root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("BENCH_BASELINE=%q: not a commit of this repository", ref)
	}
	subject, _ := gitOutput(ctx, root, "log", "-1", "--format=%s", commit) // only described in the report
	dir, err := os.MkdirTemp("", "ctms-bench-baseline-")
	if err != nil {
		return nil, err
	}
	b := &baselineBuild{ref: ref, commit: commit, subject: subject, dir: dir, bin: filepath.Join(dir, "ctms")}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o700); err != nil {
		b.remove()
		return nil, err
	}
	logf("building the baseline %s (%s) in %s", b.short(), subject, dir)
	if err := extractTree(ctx, root, commit, src); err != nil {
		b.remove()
		return nil, err
	}
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", b.bin, "./cmd/ctms") // #nosec G204 G702 -- the go command building a commit of this repository
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off") // the commit's go.mod alone
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		b.remove()
		return nil, fmt.Errorf("go build ./cmd/ctms of the baseline %s: %w", b.short(), err)
	}
	return b, nil
}

// extractTree writes commit's files into dir: git archive piped into tar.
func extractTree(ctx context.Context, root, commit, dir string) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", commit) // #nosec G204 -- a resolved commit hash
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)                                 // #nosec G204 -- our own temporary directory
	var archiveErr, untarErr strings.Builder
	archive.Stdout, archive.Stderr = pw, &archiveErr
	untar.Stdin, untar.Stderr = pr, &untarErr
	if err := untar.Start(); err != nil {
		_, _ = pr.Close(), pw.Close() // nothing was written
		return fmt.Errorf("tar: %w", err)
	}
	err = archive.Run()
	_ = pw.Close() // tar sees the end of the archive (or of a failed one)
	_ = pr.Close() // tar holds its own copy
	if werr := untar.Wait(); werr != nil && err == nil {
		return fmt.Errorf("tar -x: %w\n%s", werr, untarErr.String())
	}
	if err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", commit, err, archiveErr.String())
	}
	return nil
}

// remove deletes the temporary directory.
func (b *baselineBuild) remove() {
	if err := os.RemoveAll(b.dir); err != nil {
		logf("remove %s: %v", b.dir, err)
	}
}

func (b *baselineBuild) short() string { return b.commit[:min(len(b.commit), 7)] }

// describe names the baseline in the report.
func (b *baselineBuild) describe() string {
	s := "`" + b.short() + "`"
	if b.ref != b.short() && b.ref != b.commit {
		s += " (`" + b.ref + "`)"
	}
	if b.subject != "" {
		s += " " + strings.TrimSuffix(shortQuery(b.subject), ".")
	}
	return s
}

// describeWorkingTree names the current code: HEAD's commit, and whether files differ from it.
func describeWorkingTree(ctx context.Context, root string) string {
	head, err := gitOutput(ctx, root, "rev-parse", "--short=7", "HEAD")
	if err != nil {
		return "the working tree"
	}
	s := "the working tree at `" + head + "`"
	if st, err := gitOutput(ctx, root, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		s += " with uncommitted changes"
	}
	return s
}

// gitOutput runs git in root and returns its trimmed standard output.
func gitOutput(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...) // #nosec G204 -- fixed git subcommands
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return strings.TrimSpace(string(out)), nil
}
