from agio.cli import main

main()
