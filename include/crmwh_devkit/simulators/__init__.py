"""The three simulated source systems and the generator that fills them."""
