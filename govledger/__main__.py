"""`python -m govledger`: the same command as `govledger`."""

from govledger.proxy.cli.main import main

if __name__ == "__main__":
    main()
