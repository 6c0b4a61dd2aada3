from wbseller.cli import main

main()
