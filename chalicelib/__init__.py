"""Sleep Advisor service library: packaged with app.py by Chalice and copied into the image."""
