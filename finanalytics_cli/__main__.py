"""`python -m finanalytics_cli`."""

from finanalytics_cli.app import main

if __name__ == "__main__":
    main()
