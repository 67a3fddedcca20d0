"""State changes. Each service takes its session, ledger, storage and actor as arguments, so
views, the command line and tests share them."""
