from twotower_mini.cli import main

raise SystemExit(main())
