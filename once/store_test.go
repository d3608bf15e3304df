package once_test

import (
	"testing"

	"github.com/rabibridge/rabibridge/internal/testkit/storetest"
	"github.com/rabibridge/rabibridge/once"
)

func TestMemory(t *testing.T) { storetest.Run(t, once.NewMemory()) }
