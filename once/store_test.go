package once_test

import (
	"testing"

	"github.com/rabibridge/rabibridge/internal/storetest"
	"github.com/rabibridge/rabibridge/once"
)

func TestMemory(t *testing.T) { storetest.Run(t, once.NewMemory()) }
