package main

import (
	"errors"
	"io"
)

func studyCmd(args []string, stdout, stderr io.Writer) error {
	return errors.New("study: not yet")
}
