from wherry.cli import main

main()
