from muse.cli import main

main()
