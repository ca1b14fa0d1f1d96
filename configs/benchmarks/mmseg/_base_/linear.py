_base_ = ['./models/vit14_linear.py', './schedules/linear_25ep.py']
