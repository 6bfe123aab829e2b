"""Reference text the tests compare with."""

# Output of llama2.c run.c `-t 0 -n 200 -i "Once upon a time"` with
# stories260K.bin and tok512.bin (run.c prints a final newline after the
# text, left out here).
LLAMA2C_GREEDY_200 = (
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '
    'One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n'
    'Lily\'s mom said, "Lily, let\'s go to the park." Lily was sad and didn\'t know what to do. '
    'She said, "I want to play with your ball, but I can\'t find it."\n'
    'Lily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."\n'
    'Lily didn\'t want to help her mom, so she'
).encode()

FIRST_SENTENCE = b'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.'
