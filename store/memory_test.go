package store_test

import (
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
)

func TestMemoryBehaviour(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Backend { return store.NewMemory() })
}
